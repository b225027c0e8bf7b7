"""The interactive loop a reader uses in JupyterLab: change a parameter, run the parameters cell and
the cell after it again; at any point of a kernel's life, in every notebook. Run in a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from paperlib.series.notebooks import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _cells(name: str) -> tuple[str, str, str]:
    """The notebook's setup, parameters and validation cells' sources."""
    code = [c for c in json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    i = next(i for i, c in enumerate(code) if "parameters" in c["metadata"].get("tags", []))
    return tuple("".join(code[j]["source"]) for j in (i - 1, i, i + 1))


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"])
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def _run(client, source: str) -> str | None:
    """Execute `source` as a notebook cell (stored in the kernel's history, as JupyterLab does); the
    error's "Name: value" line, or None."""
    reply = client.execute_interactive(source, store_history=True, timeout=120, output_hook=lambda msg: None)
    content = reply["content"]
    return None if content["status"] == "ok" else f"{content['ename']}: {content['evalue']}"


@pytest.mark.slow
def test_every_notebook_reruns_its_parameters_after_a_change_and_forgets_a_mended_typo(kernel, monkeypatch):
    for name in NOTEBOOKS:
        setup, parameters, validation = _cells(name)
        assert _run(kernel, 'import os; os.environ["PAPERLIB_PROFILE"] = "smoke"') is None
        assert _run(kernel, setup) is None, name
        assert _run(kernel, parameters) is None and _run(kernel, validation) is None, name
        # later cells' globals (a whole run's) do not count as parameters
        assert _run(kernel, "results, table, plans = 1, 2, 3") is None
        changed = parameters.replace("dry_run = False", "dry_run = True")
        assert _run(kernel, changed) is None and _run(kernel, validation) is None, name
        assert _run(kernel, "assert p.dry_run and study.dry_run") is None, name
        typo = changed + "\ndyr_run = True"
        error = _run(kernel, typo) or _run(kernel, validation)
        assert error is not None and "unknown parameter(s) ['dyr_run']" in error, (name, error)
        assert _run(kernel, changed) is None and _run(kernel, validation) is None, name  # mended: forgotten
        wrong = changed.replace("runs_per_gpu = 1", "runs_per_gpu = 1.5")
        error = _run(kernel, wrong) or _run(kernel, validation)
        assert error == "TypeError: parameter runs_per_gpu must be int, got 1.5", (name, error)
        assert _run(kernel, parameters) is None and _run(kernel, validation) is None, name
