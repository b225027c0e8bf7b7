"""Every stored file that is present but broken is named, with what is wrong and what to do
(BadFileError), before it is used; what can be rebuilt (a checkpoint, a record, a cache entry)
is rebuilt, with a warning that says so."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import random_loader  # noqa: E402

from paperlib.cli import main  # noqa: E402
from paperlib.core.errors import BadFileError  # noqa: E402
from paperlib.core.files import load_weights  # noqa: E402
from paperlib.data import check, load_split, prepare  # noqa: E402
from paperlib.data.cache import PrepareError, entry_dir  # noqa: E402
from paperlib.data.tiny import write_tiny_tree  # noqa: E402
from paperlib.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from paperlib.train.run import run_or_load  # noqa: E402
from paperlib.train.spec import TrainConfig  # noqa: E402
from paperlib.train.store import ResultStore, load_records  # noqa: E402

CONFIG = dict(method="parallel", domains=["cifar100"], width=0.125, epochs=2, batch_size=16, lr=0.05,
              profile="smoke", train_limit_batches=None, eval_limit_batches=None,
              eval_splits=["val"])


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store holding one finished tiny run (record, weights, predictions)."""
    store = ResultStore(tmp_path_factory.mktemp("store"))
    config = TrainConfig.from_dict(CONFIG)
    record = run_or_load(config, store, loader=random_loader(n=32, n_eval=16))
    return store, config, record


@pytest.fixture()
def store(trained, tmp_path):
    """A private copy of the trained store (tests break its files)."""
    original, config, record = trained
    shutil.copytree(original.root, tmp_path / "store")
    return ResultStore(tmp_path / "store"), config, record


def test_truncated_record_is_named_then_rebuilt(store):
    store, config, record = store
    path = store.record_path(config)
    _truncate(path)
    with pytest.raises(BadFileError) as err:
        store.load(config)
    assert str(path) in str(err.value) and "not valid JSON" in str(err.value) and "delete it" in str(err.value)
    with pytest.raises(BadFileError, match=str(path.name)):
        load_records(store.root)
    with pytest.warns(UserWarning, match="training the run again"):
        again = run_or_load(config, store, loader=random_loader(n=32, n_eval=16))
    assert again["metrics"] == record["metrics"]  # deterministic: the rebuilt record says the same
    assert store.load(config)["metrics"] == record["metrics"]


def test_incomplete_record_is_named(store):
    store, config, _ = store
    path = store.record_path(config)
    data = json.loads(path.read_text())
    del data["metrics"]
    path.write_text(json.dumps(data))
    with pytest.raises(BadFileError, match="incomplete record .*metrics"):
        store.load(config)


def test_truncated_weights_are_named_and_detected_with_the_record(store):
    store, config, record = store
    weights = store.weights_path(config)
    _truncate(weights, 0.9)
    with pytest.raises(BadFileError) as err:
        load_weights(weights)
    assert str(weights) in str(err.value) and "truncated" in str(err.value) and "delete it" in str(err.value)
    with pytest.raises(BadFileError, match="weights file"):  # found before anything uses the weights
        store.load(config)
    with pytest.warns(UserWarning, match="training the run again"):
        again = run_or_load(config, store, loader=random_loader(n=32, n_eval=16))
    assert again["metrics"] == record["metrics"]
    state, meta = load_weights(weights)
    assert meta["run_id"] == config.run_id and state


def test_garbage_weights_header_is_named(store):
    store, config, _ = store
    weights = store.weights_path(config)
    weights.write_bytes((12).to_bytes(8, "little") + b"{not json!!}")
    with pytest.raises(BadFileError, match="corrupt header"):
        load_weights(weights)


def test_truncated_predictions_are_named(store):
    store, config, _ = store
    path = store.predictions_path(config)
    _truncate(path)
    with pytest.raises(BadFileError, match=path.name):
        store.load_predictions(config)


def test_truncated_checkpoint_is_named_or_deleted(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(1000)}})
    assert read_checkpoint(path)["epoch"] == 1
    _truncate(path)
    with pytest.raises(BadFileError) as err:
        read_checkpoint(path)
    assert str(path) in str(err.value) and "epoch 0" in str(err.value)
    with pytest.raises(BadFileError):
        load_checkpoint(path, rebuild=False)
    with pytest.warns(UserWarning, match="deleted it, the run starts again"):
        assert load_checkpoint(path) is None
    assert not path.exists()


def test_run_with_truncated_checkpoint_restarts_and_finishes(tmp_path, trained):
    _, config, record = trained
    store = ResultStore(tmp_path)
    save_checkpoint(store.checkpoint_path(config), {"epoch": 1})
    _truncate(store.checkpoint_path(config))
    with pytest.warns(UserWarning, match="starts again from epoch 0"):
        again = run_or_load(config, store, loader=random_loader(n=32, n_eval=16))
    assert again["metrics"] == record["metrics"] and again["resumed_from_epoch"] is None


# ---------------------------------------------------------------- the cache


@pytest.fixture()
def cache(tmp_path):
    root = tmp_path / "root"
    write_tiny_tree(root, domains=("aircraft", "svhn"), size=(16, 16))
    prepare(root, tmp_path / "cache", size=16, workers=0)
    return root, tmp_path / "cache"


def test_manifest_records_size_and_checksum(cache):
    _, cache_dir = cache
    manifest = json.loads((entry_dir(cache_dir, "svhn", "train") / "manifest.json").read_text())
    images = entry_dir(cache_dir, "svhn", "train") / "images.npy"
    assert manifest["arrays"]["images.npy"]["bytes"] == images.stat().st_size
    assert len(manifest["arrays"]["labels.npy"]["sampled_sha256"]) == 64


def test_truncated_cache_array_is_named_reported_and_rebuilt(cache):
    root, cache_dir = cache
    images = entry_dir(cache_dir, "svhn", "train") / "images.npy"
    before = load_split(cache_dir, "svhn", "train").images.clone()
    _truncate(images, 0.7)
    with pytest.raises(BadFileError) as err:
        load_split(cache_dir, "svhn", "train")
    assert str(images) in str(err.value) and "truncated" in str(err.value) and "data prepare" in str(err.value)
    report = check(root, decode=False, cache_dir=cache_dir)
    assert not report.ok and any("images.npy" in p and "svhn/train" in p for p in report.problems)
    with pytest.warns(UserWarning, match="rebuilding"):
        prepare(root, cache_dir, ("svhn",), ("train",), size=16, workers=0)
    assert torch.equal(load_split(cache_dir, "svhn", "train").images, before)
    assert check(root, decode=False, cache_dir=cache_dir).ok


def test_damaged_cache_array_same_size_is_named(cache):
    _, cache_dir = cache
    labels = entry_dir(cache_dir, "aircraft", "val") / "labels.npy"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(BadFileError, match="checksum"):
        load_split(cache_dir, "aircraft", "val")


def test_bad_cache_through_the_command_line_is_one_line(cache, tmp_path, capsys):
    root, cache_dir = cache
    _truncate(entry_dir(cache_dir, "svhn", "train") / "images.npy")
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(dict(CONFIG, domains=["svhn"], data_dir=str(cache_dir), epochs=1)))
    status = main(["train", "--config", str(config), "--results", str(tmp_path / "results")])
    where, err = capsys.readouterr().err.strip().split("\n", 1)  # train says first where its data and store are
    assert where.startswith("paperlib train: the data at ")
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "images.npy" in err and "paperlib data prepare" in err


def test_prepare_reports_every_bad_annotation_and_prepares_the_rest(tmp_path, capsys):
    root = tmp_path / "root"
    write_tiny_tree(root, domains=("aircraft", "svhn", "gtsrb"), size=(16, 16))
    annotations = root / "decathlon-1.0" / "annotations"
    _truncate(annotations / "aircraft_train.json")
    (annotations / "gtsrb_val.json").write_text("[]")
    with pytest.raises(PrepareError) as err:
        prepare(root, tmp_path / "cache", size=16, workers=0)
    problems = err.value.problems
    assert len(problems) == 2 and "aircraft/train" in problems[0] and "gtsrb/val" in problems[1]
    prepared = {(m["domain"], m["split"]) for m in err.value.manifests}
    assert ("svhn", "train") in prepared and ("aircraft", "val") in prepared and ("gtsrb", "train") in prepared
    assert load_split(tmp_path / "cache", "svhn", "test").images.shape[0] > 0

    status = main(["data", "prepare", "--root", str(root), "--cache", str(tmp_path / "cache2"),
                       "--size", "16", "--workers", "0"])
    out, err_text = capsys.readouterr()
    assert status == 2 and "aircraft_train.json" in err_text and "gtsrb_val.json" in err_text
    assert "svhn" in out and "Traceback" not in err_text

    table = check(root, decode=False).format()
    row = next(line for line in table.splitlines() if line.startswith("aircraft") and "train" in line)
    assert "aircraft_train.json (unreadable)" in row and "(missing)" not in row
