"""The one exception the data package raises for bad input (missing trees, bad annotations).

Its message is a single line that names the expected path and says how to get the data, so the
CLI can print it as is (exit status 2) and a notebook shows something actionable.
"""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Bad or missing input data; ``str(err)`` is one line naming the path and the remedy."""


def how_to_get_data(root: object) -> str:
    """The remedy appended to every "not found" message (docs/authors_code.md: the data comes from the
    Decathlon site; the miniature is generated locally)."""
    return (f"get the data with `paperlib data download --root {root}` "
            f"or make the miniature with `paperlib data mini --out {root}`")


class BadFileError(DataError):
    """A stored file is present but unusable (truncated, corrupt, of another format): a result
    record, weights, predictions, a checkpoint or a cache array. ``str(err)`` is one line,
    "PATH: PROBLEM; ADVICE". Readers raise it before the content is used; a caller that can
    rebuild the file catches it, says so, and rebuilds. (Also exported as paperlib.errors.)"""

    def __init__(self, path: object, problem: str, advice: str):
        self.path, self.problem, self.advice = Path(str(path)), problem, advice
        super().__init__(f"{self.path}: {problem}; {advice}")


def first_line(err: BaseException, limit: int = 160) -> str:
    """A library exception as "Type: first line of its message", shortened (a BadFileError's problem)."""
    text = (str(err).strip().splitlines() or [""])[0]
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
