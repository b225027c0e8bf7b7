"""MiniDecathlon: a small procedural stand-in for the Visual Decathlon, in the same layout."""

from paperlib.data.mini.generate import (
    MiniCounts,
    default_counts,
    generate_mini,
    generation_id,
    generation_params,
    read_generation,
)

__all__ = ["MiniCounts", "default_counts", "generate_mini", "generation_id", "generation_params", "read_generation"]
