"""The errors a user sees as one line at the command line (exit status 2, no traceback).

`DataError`: bad or missing input data. `BadFileError` (a DataError): a stored file that exists
but cannot be used (a truncated or corrupt result record, weights, predictions, checkpoint or
cache array); its message names the file, what is wrong, and what to do.
"""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Bad or missing input data; ``str(err)`` is one line naming the path and the remedy."""


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
