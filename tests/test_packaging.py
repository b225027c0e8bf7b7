"""pyproject.toml and environment.yml list the same dependencies; the skeleton is in place."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda's name -> PyPI's


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(r) for r in project["dependencies"]}
    pip_deps |= {_name(r) for group in project["optional-dependencies"].values() for r in group}
    conda = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s{2}- ([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in ("python", "pip"):
            conda.add(CONDA_NAMES.get(_name(m.group(1)), _name(m.group(1))))
    assert conda == pip_deps


def test_skeleton_commands():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make reproduce" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.M) and re.search(r"^reproduce:", makefile, re.M)


def test_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["paperlib"] == "paperlib.cli:main"


def test_the_package_shows_its_rooms():
    """At most ten entries at the top of paperlib/ (its floors, pyproject.toml's import contracts),
    every folder with a docstring saying what it holds, no module longer than one sitting."""
    package = ROOT / "paperlib"
    entries = [p for p in package.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 10, sorted(p.name for p in entries)
    for folder in (p for p in package.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        init = folder / "__init__.py"
        assert init.is_file() and init.read_text().lstrip().startswith('"""'), folder
    long = {str(p.relative_to(ROOT)): n for p in package.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
