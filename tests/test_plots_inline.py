"""Figures show in an executed notebook (no backend forced by the library) and the same cell
writes them to files; without a display, matplotlib picks a non-interactive backend itself."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

CELL = """\
import pandas as pd
from paperlib.report import plots
table = pd.DataFrame({"model": ["Series", "Parallel"], "svhn": [90.0, 91.0], "dtd": [50.0, 52.0]})
fig = plots.accuracy_bars(table, ["svhn", "dtd"], title="inline?")
plots.save_figure(fig, {path!r})
"""


def test_figure_is_an_image_output_under_papermill(tmp_path):
    papermill = pytest.importorskip("papermill")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELL.replace("{path!r}", repr(str(tmp_path / "bars.png"))))]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
                               progress_bar=False, cwd=str(tmp_path))
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs
    assert (tmp_path / "bars.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_headless_import_works_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    code = ("import matplotlib; from paperlib.report import plots; import pandas as pd; "
            "t = pd.DataFrame({'model': ['a'], 'x': [1.0]}); "
            f"plots.save_figure(plots.accuracy_bars(t, ['x'], title='t'), {str(tmp_path / 'f.png')!r}); "
            "print(matplotlib.get_backend().lower())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "agg" and (tmp_path / "f.png").is_file()
