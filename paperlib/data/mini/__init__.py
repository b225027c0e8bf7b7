"""MiniDecathlon: a small procedural stand-in for the Visual Decathlon, in the same layout.

`counts` holds its sizes and generation identity and imports none of the drawing; `generate`
(`generate_mini`, `read_generation`) writes a tree. The package imports only `counts`, so that
what needs a generation's id (the profiles, the run spec) never loads the generator.
"""

from paperlib.data.mini.counts import MiniCounts, default_counts, generation_id, generation_params, resolve_counts

__all__ = ["MiniCounts", "default_counts", "generation_id", "generation_params", "resolve_counts"]
