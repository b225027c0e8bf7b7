"""The full profile's code path, run for a few steps per training on a generated tree in the
real Decathlon layout (real domain names and class counts, 72-pixel images, 64-pixel crops)."""

import json

import pytest

from paperlib.data.dryrun import write_real_format_tree
from paperlib.reproduce import NOTEBOOKS, run_series
from paperlib.results import load_records


@pytest.mark.slow
def test_full_profile_dry_run_executes_every_notebook(tmp_path):
    root = write_real_format_tree(tmp_path / "decathlon")
    runs = tmp_path / "runs"
    executed = run_series("full", data_root=str(root), dry_run=True, runs_dir=str(runs), progress=False)
    assert [p.stem for p in executed] == list(NOTEBOOKS)
    records = load_records(runs / "full-dry-run" / "results")
    assert set(records["profile"]) == {"full"}
    assert set(records["width"]) >= {0.5, 1.0, 2.5} and set(records["crop"]) == {64}
    assert set(records["method"]) == {"scratch", "finetune", "series", "parallel", "svd", "lora"}
    record = json.loads(next((runs / "full-dry-run" / "results" / "full").glob("*.json")).read_text())
    assert record["config"]["train_limit_batches"] == 2
    omniglot = records[(records["domain"] == "omniglot") & (records["method"] == "parallel")].iloc[0]
    assert omniglot["params_head"] == 1623 * 256 + 1623  # the real class count reached the model
