"""The results store: one record per config, found again without training, never silently
overwritten; weights next to it; every record in one DataFrame; the `paperlib train` command."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from conftest import random_loader

from paperlib.core.files import load_weights
from paperlib.core.paths import project_root
from paperlib.model.weights import load_model
from paperlib.train import run as run_module
from paperlib.train.profiles import get_profile
from paperlib.train.run import main, run_or_load
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import RecordExistsError, ResultStore, load_records

CPU = Runtime(device="cpu")

TINY = dict(width=0.125, epochs=2, batch_size=16, lr=0.05, profile="smoke",
            train_limit_batches=None, eval_limit_batches=None)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two finished runs in one store: a pretraining and an adaptation that starts from it."""
    store = ResultStore(tmp_path_factory.mktemp("results"))
    loader = random_loader()
    pre = TrainConfig(method="scratch", domains=("imagenet12",), **TINY)
    pre_record = run_or_load(pre, store, CPU, loader=loader)
    adapt = TrainConfig(method="parallel", domains=("cifar100", "dtd"), eval_splits=("val", "test"),
                        pretrained=(str(store.weights_path(pre)),), **TINY)
    return store, pre, pre_record, adapt, run_or_load(adapt, store, CPU, loader=loader)


def test_record_contents(stored):
    store, pre, pre_record, adapt, record = stored
    assert store.record_path(adapt) == store.root / "smoke" / f"{adapt.run_id}.json"
    assert json.loads(store.record_path(adapt).read_text()) == record
    assert record["run_id"] == adapt.run_id and TrainConfig.from_dict(record["config"]) == adapt
    assert set(record["metrics"]) == {"cifar100", "dtd"} and set(record["metrics"]["dtd"]) == {"val", "test"}
    assert record["parameters"]["model"]["total"] > record["parameters"]["per_domain"]["dtd"]["total"] > 0
    assert record["parameters"]["per_domain"]["dtd"]["adapter"] > 0
    assert record["device"] == "cpu" and record["wall_time_s"] > 0 and record["finished"].endswith("+00:00")
    assert {"torch", "python", "paperlib"} <= set(record["versions"])
    assert len(record["history"]) == adapt.epochs and record["resumed_from_epoch"] is None
    assert not store.checkpoint_path(adapt).exists()  # removed once the record is written


def test_weights_and_predictions_are_saved_next_to_the_record(stored):
    store, pre, _, adapt, record = stored
    model = load_model(store.weights_path(adapt))
    assert model.domains == {"cifar100": 4, "dtd": 4} and model.config.adapter == "parallel"
    state, meta = load_weights(store.weights_path(adapt))
    assert meta["run_id"] == adapt.run_id and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    preds = store.load_predictions(adapt)
    loader = random_loader()
    ids, labels = preds["dtd"]["test"]
    assert torch.equal(ids, loader("dtd", "test").image_ids) and labels.dtype == torch.int64
    acc = float((labels == loader("dtd", "test").labels).double().mean() * 100)
    assert acc == pytest.approx(record["metrics"]["dtd"]["test"])
    # the adaptation really started from the stored pretrained weights (frozen 3x3 convs)
    pre_state, _ = load_weights(store.weights_path(pre))
    assert torch.equal(pre_state["blocks.6.unit1.conv.weight"], state["blocks.6.unit1.conv.base.weight"])


def test_run_or_load_returns_the_record_without_training(stored, monkeypatch):
    store, _, _, adapt, record = stored

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the record exists")

    monkeypatch.setattr(run_module, "train", no_training)
    assert run_or_load(adapt, store) == record
    assert run_or_load(adapt, str(store.root)) == record  # a path works as well
    with pytest.raises(AssertionError, match="trained although"):
        run_or_load(adapt.replace(seed=1), store)  # another config is another run


def test_records_are_never_overwritten_silently(stored):
    store, _, _, adapt, record = stored
    assert store.save(record) == store.record_path(adapt)  # the same record again: fine
    changed = {**record, "wall_time_s": record["wall_time_s"] + 1}
    with pytest.raises(RecordExistsError, match="pass overwrite=True"):
        store.save(changed)
    assert store.load(adapt) == record
    forged = {**record, "config": {**record["config"], "seed": 7}}
    with pytest.raises(ValueError, match="does not match its config"):
        store.save(forged)


def test_overwrite_replaces(tmp_path):
    store = ResultStore(tmp_path)
    config = TrainConfig(method="bn", domains=("dtd",), **{**TINY, "epochs": 1})
    first = run_or_load(config, store, CPU, loader=random_loader())
    second = run_or_load(config, store, CPU, loader=random_loader(), overwrite=True)
    assert store.load(config) == second and second["finished"] >= first["finished"]
    assert second["metrics"] == first["metrics"]  # deterministic on the CPU


def test_load_records_is_one_frame(stored):
    store, pre, _, adapt, _ = stored
    frame = load_records(store.root)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3  # one row per run and domain
    row = frame[(frame.run_id == adapt.run_id) & (frame.domain == "dtd")].iloc[0]
    assert row.method == "parallel" and row.domains == "cifar100+dtd" and row.width == 0.125
    metrics = store.load(adapt)["metrics"]["dtd"]
    assert (row.acc_val, row.acc_test) == (metrics["val"], metrics["test"])
    assert row.params_domain > row.params_adapter > 0 and row.params_total > row.params_domain
    assert frame[frame.run_id == pre.run_id].acc_test.isna().all()  # not evaluated on test
    assert store.records("smoke").shape == frame.shape
    assert load_records(store.root / "nothing").empty


def test_cli_finds_the_data_of_the_data_seed_under_the_project_root(tmp_path, monkeypatch, capsys):
    """An exported config of seed 1 and data seed 0 reads the generation of seed 0, the series'
    data, under the project root whatever the working directory, and says where."""
    runtimes = []
    monkeypatch.setattr(run_module, "run_or_load", lambda config, store, runtime, **kw: runtimes.append(runtime) or
                        {"run_id": config.run_id, "metrics": {}, "wall_time_s": 0.0})
    monkeypatch.chdir(tmp_path)  # not the project
    cfg = tmp_path / "cfg.json"
    mini = get_profile("mini")
    for seeds, data_seed in (({"seed": 1, "data_seed": 0}, 0), ({"seed": 1}, 1), ({"seed": 2, "data_seed": 1}, 1)):
        cfg.write_text(json.dumps({"profile": "mini", "method": "bn", "domains": ["dtd"], **seeds}))
        assert main(["--config", str(cfg), "--results", str(tmp_path / "r")]) == 0
        expected = project_root() / mini.data_folder(data_seed) / mini.cache_name
        assert runtimes.pop() == Runtime(data_dir=str(expected))
        assert f"the data at {expected}" in capsys.readouterr().err
    assert mini.data_folder(0) != mini.data_folder(1)  # the two seeds' generations differ


def test_cli_runs_a_config_file_and_rejects_bad_ones(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run(config, store, runtime, **kwargs):
        calls.append((config, store, runtime))
        return {"run_id": config.run_id, "metrics": {"dtd": {"val": 50.0}}, "wall_time_s": 1.0}

    monkeypatch.setattr(run_module, "run_or_load", fake_run)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"profile": "mini", "method": "bn", "domains": ["dtd"], "epochs": 3, "device": "cpu"}))
    assert main(["--config", str(cfg), "--results", str(tmp_path / "r"), "--data-dir", "elsewhere"]) == 0
    (config, store, runtime), = calls
    assert config == TrainConfig.for_profile("mini", method="bn", domains=("dtd",), epochs=3)
    assert runtime == Runtime(data_dir="elsewhere", device="cpu")  # runtime keys and flags, not the spec
    assert store == str(tmp_path / "r") and json.loads(capsys.readouterr().out)["run_id"] == config.run_id
    cfg.write_text(json.dumps({"method": "bn", "domain": ["dtd"]}))
    assert main(["--config", str(cfg)]) == 2
    assert "unknown TrainConfig key(s) ['domain']; valid keys:" in capsys.readouterr().err
