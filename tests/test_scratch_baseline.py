"""The data sheet's from-scratch baseline (paperlib.data.mini.baseline): trained on a prepared
cache, kept beside it, read back instead of trained again, and written as the sheet's table."""

from __future__ import annotations

import json

import pytest

from paperlib.data import load_split, prepare
from paperlib.data.mini.baseline import BaselineSettings, baseline_markdown, scratch_accuracy, scratch_baselines
from paperlib.data.tiny import write_tiny_tree

SETTINGS = BaselineSettings(crop=8, batch=4, min_epochs=1, min_steps=2, max_steps=3)


@pytest.fixture()
def cache(tmp_path):
    write_tiny_tree(tmp_path / "root", domains=("aircraft", "svhn"), classes=3, per_class=(4, 1, 2))
    prepare(tmp_path / "root", tmp_path / "cache", ["aircraft", "svhn"], size=12, workers=0)
    return tmp_path / "cache"


def test_trained_once_then_read_from_beside_the_cache(cache, monkeypatch):
    got = scratch_baselines(cache, domains=("aircraft", "svhn"), settings=SETTINGS, progress=None)
    assert set(got) == {"aircraft", "svhn"}
    for domain, accuracy in got.items():  # a percentage of the test images, to two decimals
        n = len(load_split(cache, domain, "test"))
        assert accuracy in {round(100 * k / n, 2) for k in range(n + 1)}, (domain, accuracy)
    stored = json.loads((cache / "scratch_baseline.json").read_text())
    assert stored["accuracy"] == got and stored["settings"]["max_steps"] == 3

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr("paperlib.data.mini.baseline.scratch_accuracy", no_training)
    assert scratch_baselines(cache, domains=("aircraft", "svhn"), settings=SETTINGS, progress=None) == got
    with pytest.raises(AssertionError, match="trained again"):  # other settings: trained anew
        scratch_baselines(cache, domains=("svhn",), settings=BaselineSettings(crop=8, max_steps=2), progress=None)


def test_the_same_data_and_seed_give_the_same_accuracy(cache):
    first = scratch_accuracy(cache, "aircraft", SETTINGS)
    assert scratch_accuracy(cache, "aircraft", SETTINGS) == first


def test_two_workers_give_the_one_thread_serial_numbers(cache, tmp_path):
    import shutil

    import torch

    other = shutil.copytree(cache, tmp_path / "other")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count
    try:
        serial = scratch_baselines(cache, domains=("aircraft", "svhn"), settings=SETTINGS, progress=None)
    finally:
        torch.set_num_threads(threads)
    side = scratch_baselines(other, domains=("aircraft", "svhn"), settings=SETTINGS, workers=2, progress=None)
    assert side == serial


def test_an_unlabelled_test_split_is_refused(tmp_path):
    write_tiny_tree(tmp_path / "root", domains=("svhn",), labelled_test=False)
    prepare(tmp_path / "root", tmp_path / "cache", ["svhn"], size=12, workers=0)
    with pytest.raises(ValueError, match="no labels"):
        scratch_accuracy(tmp_path / "cache", "svhn", SETTINGS)


def test_the_sheet_table_shows_chance_beside_each_accuracy():
    table = baseline_markdown({"svhn": 89.64, "daimlerpedcls": 85.0}, {"svhn": 10, "daimlerpedcls": 2})
    assert "| svhn | 10 | 10.0% | 89.6% |" in table and "| daimlerpedcls | 2 | 50.0% | 85.0% |" in table
