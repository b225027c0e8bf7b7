"""JupyterLab, which `make lab` opens on notebooks/, runs from the project's environment."""

import subprocess
import sys
from pathlib import Path


def test_jupyter_lab_runs_from_the_venv():
    jupyter = Path(sys.executable).parent / "jupyter"
    assert jupyter.is_file(), f"{jupyter} missing: install the project (pip install -e .) in this environment"
    done = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    major = int(done.stdout.strip().split(".")[0])
    assert major >= 4  # pyproject.toml asks for jupyterlab>=4.0


def test_make_lab_opens_notebooks_from_the_venv():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "\nlab: $(STAMP)\n\t$(BIN)/jupyter lab --notebook-dir=notebooks" in makefile
