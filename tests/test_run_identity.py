"""A run is its spec: moving the results store and the data, or changing the device, finds the
same runs (nothing retrains); changing what decides a result does not. The report only reads."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from paperlib.data import prepare
from paperlib.data.tiny import write_tiny_tree
from paperlib.series.notebooks import series_plan
from paperlib.series.plans import table1_plan
from paperlib.series.running import load_all, run_all
from paperlib.series.study import Study
from paperlib.train.identity import data_identity
from paperlib.train.runtime import Runtime
from paperlib.train.spec import ABSENT_BEFORE, ALWAYS_HASHED, TrainConfig, undecided_fields

DOMAINS = ("imagenet12", "dtd")


def _tiny_data(root):
    """A tree of the two domains a pretraining + one adaptation read, prepared at the smoke size."""
    write_tiny_tree(root, domains=DOMAINS, classes=3, per_class=(8, 2, 2), size=(40, 40))
    prepare(root, root / "cache-40", DOMAINS, ("train", "val", "test"), size=40, workers=1)
    return root


def _plan(study):
    return table1_plan(study, ["Parallel Res. adapt."], ["dtd"])  # and, upstream, the pretraining


def _refuse_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr("paperlib.train.engine.train", refuse)
    monkeypatch.setattr("paperlib.train.run.train", refuse)


def test_moved_store_and_data_and_cpu_device_rerun_nothing(tmp_path, monkeypatch):
    data = _tiny_data(tmp_path / "data-a")
    first = Study(replicates=1, profile="smoke", data_root=str(data), results_dir=str(tmp_path / "results-a"), device="auto")
    trained = run_all(first, _plan(first), progress=None)
    assert len(list((tmp_path / "results-a" / "smoke").glob("*.json"))) == 2  # pretraining + adaptation

    shutil.copytree(tmp_path / "results-a", tmp_path / "results-b")
    moved = shutil.move(str(data), str(tmp_path / "elsewhere" / "data-b"))
    again = Study(replicates=1, profile="smoke", data_root=moved, results_dir=str(tmp_path / "results-b"), device="cpu")
    _refuse_training(monkeypatch)
    rerun = run_all(again, _plan(again), progress=None)
    pd.testing.assert_frame_equal(rerun, trained, check_like=True)  # same runs, same numbers
    rows, missing = load_all(again, _plan(again))
    assert missing == [] and list(rows["run_id"]) == list(trained["run_id"])


def test_identity_follows_the_spec_and_the_data_content_not_places(tmp_path):
    data = _tiny_data(tmp_path / "d")
    study = Study(replicates=1, profile="smoke", data_root=str(data))
    (_, config), = _plan(study)
    bound = study.bind(config)
    assert bound.data == data_identity(data / "cache-40", ("dtd",), ("train", "val", "test"))
    assert bound.upstream[0].data == data_identity(data / "cache-40", ("imagenet12",), ("train", "val"))
    assert bound.run_id != config.run_id and bound.replace(seed=1).run_id != bound.run_id
    assert TrainConfig.from_dict(bound.to_dict()).run_id == bound.run_id  # nested upstream specs round-trip
    # the same content elsewhere is the same data; other content is other data
    shutil.copytree(data / "cache-40", tmp_path / "copy")
    here = data_identity(data / "cache-40", ("dtd",), ("train",))
    assert data_identity(tmp_path / "copy", ("dtd",), ("train",)) == here
    manifest = tmp_path / "copy" / "dtd" / "train" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"count": 24', '"count": 23'))
    assert data_identity(tmp_path / "copy", ("dtd",), ("train",)) != here
    with pytest.raises(ValueError, match="unknown device"):
        Runtime(device="tpu")


def test_the_report_lists_missing_runs_and_never_trains(tmp_path, monkeypatch):
    data = _tiny_data(tmp_path / "d")
    study = Study(replicates=1, profile="smoke", data_root=str(data), results_dir=str(tmp_path / "empty"))
    _refuse_training(monkeypatch)
    rows, missing = load_all(study, _plan(study))
    assert rows.empty and [c.method for c in missing] == ["parallel"]
    assert not (tmp_path / "empty").exists()


def test_the_series_run_ids_are_stable():
    """Every training of replicate 0 of the three profiles' series keeps the id it had when
    tests/data/series_run_ids.json was written (a stored series is found again after a change of
    the code): a change of `TrainConfig` that alters the id of an existing run must be deliberate,
    and rewrite that file. Float32 on the CPU, as the file's runs (bf16 runs are other runs)."""
    recorded = json.loads((Path(__file__).parent / "data" / "series_run_ids.json").read_text())
    for profile, runs in recorded.items():
        now = {c.run_id for _, _, c in series_plan(Study(profile=profile, cpu_bf16=False))}
        lost = sorted(set(runs) - now)
        assert not lost, f"{profile}: {len(lost)} runs changed id, e.g. {[runs[r] for r in lost[:3]]}"


def test_every_spec_field_has_its_identity_decision():
    """The run identity rule (train/spec.py): each TrainConfig field is always hashed or left out
    at its value from before it existed; a field added or removed without that decision fails."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert undecided_fields(names) == (set(), set())
    assert not ALWAYS_HASHED & set(ABSENT_BEFORE)
    assert undecided_fields(names | {"new_knob"}) == ({"new_knob"}, set())
    assert undecided_fields(names - {"seed"}) == (set(), {"seed"})
    for field, before in ABSENT_BEFORE.items():  # at its old value a field is not in the hash
        assert field not in dataclasses.replace(TrainConfig(), **{field: before}).to_json()
    assert '"seed":0' in TrainConfig().to_json()  # an always-hashed field is, at any value
