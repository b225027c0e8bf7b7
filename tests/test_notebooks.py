"""The committed notebooks: one validated parameters cell each, outputs stripped but for the
cells nbval checks, and every checked cell carries the output it is compared with."""

import ast
import json
from pathlib import Path

import pytest

from paperlib.series.notebooks import NOTEBOOKS, SERIES
from paperlib.series.params import PlacementParams, RegularizationParams, parameters_cell

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
CHECK = "# NBVAL_CHECK_OUTPUT"


def cells(name):
    return json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())["cells"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_series_is_complete_and_numbered():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_outputs_stripped_except_checked_cells_which_all_have_one(name):
    checked = 0
    for cell in cells(name):
        if cell["cell_type"] != "code":
            continue
        if source(cell).startswith(CHECK):
            checked += 1
            assert cell["outputs"], f"{name}: a {CHECK} cell without a stored output checks nothing"
            # nbval refuses a stored output without an execution count ("Unrun reference cell has outputs")
            assert cell.get("execution_count") is not None, f"{name}: a {CHECK} cell needs its execution count"
        else:
            assert not cell["outputs"], f"{name}: commit notebooks stripped (outputs only in {CHECK} cells)"
            assert cell.get("execution_count") is None
    assert checked >= 1, f"{name} has no {CHECK} cell"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_is_generated_from_its_dataclass(name, monkeypatch):
    """One source: the cell is `parameters_cell` of the notebook's Params (notebooks.SERIES), and the
    cell's next line validates that very class."""
    monkeypatch.delenv("PAPERLIB_PROFILE", raising=False)
    code = [c for c in cells(name) if c["cell_type"] == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    cls = SERIES[name][0]
    assert source(code[tagged[0]]) == parameters_cell(cls), "run `paperlib reproduce --write-parameter-cells`"
    assert f"{cls.__name__}.from_namespace(globals())" in source(code[tagged[0] + 1])
    namespace = {}
    exec("import os\n" + source(code[tagged[0]]), namespace)
    given = {k: v for k, v in namespace.items() if k not in ("os", "__builtins__")}
    assert cls.from_dict(given) == cls()  # the cell's values are the dataclass defaults, and valid
    for node in ast.parse(source(code[tagged[0]])).body:  # literals only, but the env lookup for CI
        assert isinstance(node, ast.Assign)


def test_unknown_or_mistyped_parameters_are_errors():
    with pytest.raises(ValueError, match="unknown parameter.*placment.*valid: profile"):
        PlacementParams.from_dict({"placment": ("early",)})
    with pytest.raises(TypeError, match="seed"):
        PlacementParams.from_dict({"seed": "zero"})
    with pytest.raises(ValueError, match="profile"):
        PlacementParams.from_dict({"profile": "huge"}).study
    with pytest.raises(TypeError, match="dropout must be float, got 'x'"):
        RegularizationParams.from_dict({"dropout": "x"})  # the type as a person writes it
    cell = parameters_cell(PlacementParams)
    namespace = {"os": None, "_x": 1, "later": 3, "profile": "smoke", "placements": ["late"],
                 "In": ["", "import os", cell, "# Parameters\nplacements = ['late']\n", "p = ..."]}
    p = PlacementParams.from_namespace(namespace)  # globals of later cells are not parameters
    assert p.placements == ("late",) and p.study.profile == "smoke"
    namespace["In"] += ["# Parameters\nplacment = ['late']\n", "p = ..."]
    with pytest.raises(ValueError, match="unknown parameter.*placment"):
        PlacementParams.from_namespace(namespace)
    namespace["In"] += [cell, "p = ..."]  # the typo mended: forgotten, though still a global
    assert PlacementParams.from_namespace({**namespace, "placment": 1}).placements == ("late",)
