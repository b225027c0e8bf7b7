"""The one exception the data package raises for bad input (missing trees, bad annotations).

Its message is a single line that names the expected path and says how to get the data, so the
CLI can print it as is (exit status 2) and a notebook shows something actionable.
"""

from __future__ import annotations


class DataError(Exception):
    """Bad or missing input data; ``str(err)`` is one line naming the path and the remedy."""


def how_to_get_data(root: object) -> str:
    """The remedy appended to every "not found" message (REFERENCE.md: the data comes from the
    Decathlon site; the miniature is generated locally)."""
    return (f"get the data with `paperlib data download --root {root}` "
            f"or make the miniature with `paperlib data mini --out {root}`")
