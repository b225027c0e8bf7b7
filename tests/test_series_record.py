"""The executed series as the record (docs/series/): the same cells' sources as notebooks/, and
nothing that changes from one execution to the next."""

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from papermill.parameterize import parameterize_notebook

from paperlib.core.errors import BadFileError, DataError
from paperlib.series.notebooks import NOTEBOOKS
from paperlib.series.record import INJECTED, record_series, source_differences
from paperlib.series.reproduce import main as reproduce_main

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "series"


def test_the_committed_record_has_the_sources_of_notebooks():
    if not RECORD.is_dir() or not any(RECORD.glob("*.ipynb")):
        pytest.skip("docs/series/ holds no executed notebook: nothing to compare")
    assert source_differences(RECORD, ROOT / "notebooks") == []


def test_the_readme_links_each_notebook_of_the_record():
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in NOTEBOOKS if f"(docs/series/{n}.ipynb)" not in readme]
    assert not missing, missing


def _source(tmp_path: Path, name: str = NOTEBOOKS[0]) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# A notebook"),
                             new_code_cell("profile = 'mini'", metadata={"tags": ["parameters"]}),
                             new_code_cell("print(profile)")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    folder = tmp_path / "notebooks"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def _execute(source_dir: Path, runs: Path, *, when: str, name: str = NOTEBOOKS[0], failed: bool = False) -> Path:
    """What papermill leaves: the injected cell (a fresh random id), times in every metadata, outputs."""
    nb = nbformat.read(source_dir / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb.metadata["papermill"] = {}  # as papermill's own execution prepares it
    nb = parameterize_notebook(nb, {"profile": "smoke"})
    nb.metadata["papermill"] |= {"start_time": when, "end_time": when, "duration": 1.5, "exception": failed,
                                "input_path": str(source_dir), "output_path": str(runs), "parameters": {}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "pygments_lexer": "ipython3"}
    for count, cell in enumerate(nb.cells, 1):
        cell.metadata["papermill"] = {"start_time": when, "end_time": when, "duration": 0.1, "status": "completed"}
        if cell.cell_type == "code":
            cell.metadata["execution"] = {"iopub.execute_input": when, "shell.execute_reply": when}
            cell.execution_count = count
            cell.outputs = [new_output("stream", name="stdout", text="smoke\n")]
    runs.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, runs / f"{name}.ipynb")
    return runs / f"{name}.ipynb"


def test_the_record_keeps_outputs_and_drops_what_changes_between_executions(tmp_path):
    source = _source(tmp_path)
    recorded = []
    for i, when in enumerate(("2026-01-01T10:00:00", "2026-02-02T11:11:11")):
        _execute(source, tmp_path / f"runs{i}", when=when)
        (path,) = record_series(tmp_path / f"runs{i}", out_dir=tmp_path / f"record{i}", source_dir=source)
        recorded.append(path.read_bytes())
    assert recorded[0] == recorded[1]  # two executions, one record
    text = recorded[0].decode()
    assert not re.search(r"2026-0|duration|papermill|iopub|3\.11\.7", text)
    nb = nbformat.reads(text, as_version=4)
    assert nb.metadata == nbformat.read(source / f"{NOTEBOOKS[0]}.ipynb", as_version=4).metadata
    injected = [c for c in nb.cells if c.id == INJECTED]
    assert len(injected) == 1 and 'profile = "smoke"' in injected[0].source
    printed = [c for c in nb.cells if c.source == "print(profile)"]
    assert printed[0].outputs[0]["text"] == "smoke\n" and printed[0].execution_count == 4
    assert source_differences(tmp_path / "record0", source) == []


def test_a_record_whose_sources_differ_from_notebooks_is_found(tmp_path):
    source = _source(tmp_path)
    _execute(source, tmp_path / "runs", when="2026-01-01")
    record_series(tmp_path / "runs", out_dir=tmp_path / "record", source_dir=source)
    path = tmp_path / "record" / f"{NOTEBOOKS[0]}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = "print(profile * 2)"
    nbformat.write(nb, path)
    (problem,) = source_differences(tmp_path / "record", source)
    assert str(path) in problem and "cell 2 differs" in problem
    nb.cells[-1].source = "print(profile)"
    nb.cells.append(new_code_cell("1"))
    nbformat.write(nb, path)
    assert "4 cells" in source_differences(tmp_path / "record", source)[0]
    shutil.copy(path, tmp_path / "record" / "99_unknown.ipynb")
    assert any("99_unknown" in p and "no " in p for p in source_differences(tmp_path / "record", source))


def test_a_failed_or_stale_execution_is_not_recorded(tmp_path):
    source = _source(tmp_path)
    _execute(source, tmp_path / "failed", when="2026-01-01", failed=True)
    with pytest.raises(BadFileError, match="execution failed"):
        record_series(tmp_path / "failed", out_dir=tmp_path / "record", source_dir=source)
    stale = _execute(source, tmp_path / "stale", when="2026-01-01")
    nb = nbformat.read(stale, as_version=4)
    nb.cells[0].source = "# Another title"
    nbformat.write(nb, stale)
    with pytest.raises(BadFileError, match="other sources"):
        record_series(tmp_path / "stale", out_dir=tmp_path / "record", source_dir=source)
    assert not (tmp_path / "record").exists()


def test_reproduce_record_of_a_folder_without_notebooks_is_one_line(tmp_path):
    with pytest.raises(DataError, match="no executed notebook"):
        reproduce_main(["--record", str(tmp_path)])
