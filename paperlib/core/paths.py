"""The project root: the checkout paperlib runs from, which every default path (data, results,
runs, figures, the README, the notebooks) is relative to, so a notebook finds them from any
working directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # paperlib/


def project_root(start: str | Path | None = None) -> Path:
    """The checkout paperlib runs from (the folder with its pyproject.toml above the package),
    else the one above `start` (default: the working directory), else the working directory."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (PACKAGE.parent, here, *here.parents):
        toml = folder / "pyproject.toml"
        if toml.is_file() and 'name = "paperlib"' in toml.read_text():
            return folder
    return here
