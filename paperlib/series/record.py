"""The executed series as the record: the notebooks of a run folder (runs/<profile>/, as
`paperlib reproduce` writes them) copied to docs/series/, where GitHub renders their tables and
figures, with what changes between two executions of the same code taken out. notebooks/ stays
stripped (nbval runs it); the two sets have the same cells' sources (`source_differences`).

    paperlib reproduce --record runs/mini

Volatile, and stripped, because it differs from one execution of the same notebook on the same
data to the next and says nothing about the results:

- the notebook's `papermill` metadata: start and end times, duration, the input and output paths
  of the machine that ran it, papermill's version (the parameters it holds are also in the
  injected cell, which stays);
- the notebook's other metadata (the kernel's `language_info`, with the Python version of the
  machine): replaced by the source notebook's, so a record differs from notebooks/ only in its
  outputs and its injected cell;
- each cell's `papermill` (times, duration, status) and `execution` (the kernel's message
  timestamps) metadata, and the empty `tags` lists papermill adds to every cell;
- the injected-parameters cell's id, a fresh random one at each execution: it becomes
  `injected-parameters`.

Kept: every cell's source and outputs (the tables, figures and printed numbers: the record) and
its execution count (the order the kernel ran the cells, the same for every run from the top),
and the injected-parameters cell (the options the series ran with).
"""

from __future__ import annotations

from pathlib import Path

from paperlib.core.errors import BadFileError, DataError
from paperlib.core.files import write_bytes
from paperlib.core.paths import project_root
from paperlib.series.notebooks import NOTEBOOKS

INJECTED = "injected-parameters"  # papermill's tag (and our id) for the cell it adds after `parameters`
VOLATILE_CELL_METADATA = ("papermill", "execution")


def record_dir() -> Path:
    """docs/series/ in the project: where the record is committed."""
    return project_root() / "docs" / "series"


def _source_dir(source_dir: str | Path | None) -> Path:
    return Path(source_dir) if source_dir is not None else project_root() / "notebooks"


def _read(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several types for a truncated or foreign file
        raise BadFileError(path, f"not a readable notebook ({type(err).__name__})",
                           "run the notebook again to write it") from err


def cell_sources(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell but papermill's injected-parameters cell."""
    return [(c.cell_type, c.source) for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]


def source_differences(recorded_dir: str | Path, source_dir: str | Path | None = None) -> list[str]:
    """One line per notebook of `recorded_dir` whose cells' sources are not those of the same
    notebook in `source_dir` (default: notebooks/), naming the first cell that differs; empty
    when they all agree."""
    source_dir = _source_dir(source_dir)
    problems = []
    for path in sorted(Path(recorded_dir).glob("*.ipynb")):
        source = source_dir / path.name
        if not source.is_file():
            problems.append(f"{path}: no {source}")
            continue
        recorded, original = cell_sources(_read(path)), cell_sources(_read(source))
        first = next((i for i, (a, b) in enumerate(zip(recorded, original)) if a != b), None)
        if first is not None:
            problems.append(f"{path}: cell {first} differs from {source}'s")
        elif len(recorded) != len(original):
            problems.append(f"{path}: {len(recorded)} cells, {source} has {len(original)}")
    return problems


def strip_volatile(executed, source):
    """The executed notebook without what changes between executions (module docstring)."""
    executed.metadata = source.metadata
    for cell in executed.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        if INJECTED in cell.metadata.get("tags", []):
            cell.id = INJECTED
    return executed


def record_series(runs_dir: str | Path, *, out_dir: str | Path | None = None,
                  source_dir: str | Path | None = None) -> list[Path]:
    """Copy the executed notebooks of `runs_dir` (those of NOTEBOOKS it holds) to `out_dir`
    (default: docs/series/), volatile metadata stripped, each written atomically; returns them.
    A notebook whose execution failed, or that was executed from other sources than
    `source_dir`'s (default: notebooks/), is refused: the record would not be this code's."""
    import nbformat

    runs_dir, source_dir = Path(runs_dir), _source_dir(source_dir)
    out_dir = Path(out_dir) if out_dir is not None else record_dir()
    found = [name for name in NOTEBOOKS if (runs_dir / f"{name}.ipynb").is_file()]
    if not found:
        raise DataError(f"{runs_dir}: no executed notebook of the series ({', '.join(NOTEBOOKS)}); "
                        "run `paperlib reproduce` first")
    written = []
    for name in found:
        path = runs_dir / f"{name}.ipynb"
        executed, source = _read(path), _read(source_dir / f"{name}.ipynb")
        if executed.metadata.get("papermill", {}).get("exception"):
            raise BadFileError(path, "its execution failed", "fix the failing cell and run the series again")
        if cell_sources(executed) != cell_sources(source):
            raise BadFileError(path, f"executed from other sources than {source_dir / path.name}",
                               "run the series again with this code")
        out = out_dir / path.name
        write_bytes(out, (nbformat.writes(strip_volatile(executed, source)) + "\n").encode())
        written.append(out)
    return written


__all__ = ["INJECTED", "cell_sources", "record_dir", "record_series", "source_differences", "strip_volatile"]
