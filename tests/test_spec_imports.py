"""What importing the run spec loads: the profiles need a MiniDecathlon's counts and generation
id (data.mini.counts), never its generator. import-linter's contract checks the import graph; this
checks the interpreter, which also runs every package's __init__ on the way."""

import subprocess
import sys

from paperlib.data.mini.counts import generation_id
from paperlib.train.profiles import get_profile

DRAWING = ("paperlib.data.mini.generate", "paperlib.data.mini.parallel", "paperlib.data.mini.families",
           "paperlib.data.mini.canvas", "paperlib.data.mini.source")


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in sys.modules if m.startswith('paperlib')))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_the_spec_and_the_profiles_load_no_generator():
    for statement in ("import paperlib.train.spec", "import paperlib.train.profiles", "import paperlib.data"):
        loaded = _loaded_by(statement)
        assert "paperlib.data.mini.counts" in loaded, statement  # the counts table and the id: yes
        assert not loaded & set(DRAWING), (statement, sorted(loaded & set(DRAWING)))
    assert set(DRAWING) <= _loaded_by("import paperlib.data.mini.generate")  # the list names real modules


def test_the_generation_ids_of_the_profiles_are_the_series_folders():
    """The ids of the committed series' data folders (data/<profile>/<id>): moving the counts out of
    the generator must not change a byte of what is hashed."""
    ids = {(p, seed): get_profile(p).data_folder(seed).name for p in ("smoke", "mini") for seed in (0, 1)}
    assert ids == {("smoke", 0): "d8d6195a913e", ("smoke", 1): "c296400f437f",
                   ("mini", 0): "9fc15ebd2f58", ("mini", 1): "91eccfc31e98"}
    assert generation_id(0, 40, scale=1.0) == "9fc15ebd2f58"
