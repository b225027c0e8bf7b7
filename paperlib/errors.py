"""The errors a user sees as one line at the command line (exit status 2, no traceback).

`DataError`: bad or missing input data. `BadFileError` (a DataError): a stored file that exists
but cannot be used (a truncated or corrupt result record, weights, predictions, checkpoint or
cache array); its message names the file, what is wrong, and what to do. Both live in
`paperlib.data.errors` (the data package raises them without importing the rest of the library).
"""

from __future__ import annotations

from .data.errors import BadFileError, DataError, first_line

__all__ = ["BadFileError", "DataError", "first_line"]
