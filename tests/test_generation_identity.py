"""Generated data is identified by its generation parameters: two seeds never share a folder."""

from __future__ import annotations

import json

import pytest

from paperlib.core.errors import DataError
from paperlib.data.mini.counts import MiniCounts, generation_id
from paperlib.data.mini.generate import generate_mini, read_generation

DOMAINS = ("svhn", "dtd")
COUNTS = {d: MiniCounts(3, 2, 1, 1) for d in DOMAINS}


def _make(folder, seed, **kw):
    return generate_mini(folder, seed=seed, counts=COUNTS, domains=DOMAINS, size=16, **kw)


def test_generation_id_follows_every_parameter():
    base = generation_id(0, 16, counts=COUNTS, domains=DOMAINS)
    assert base == generation_id(0, 16, counts=COUNTS, domains=DOMAINS)
    others = {generation_id(1, 16, counts=COUNTS, domains=DOMAINS),
              generation_id(0, 24, counts=COUNTS, domains=DOMAINS),
              generation_id(0, 16, scale=2.0, counts=COUNTS, domains=DOMAINS), generation_id(0, 16, domains=DOMAINS)}
    assert base not in others and len(others) == 4


def test_two_seeds_in_two_folders_and_never_in_one(tmp_path):
    _make(tmp_path / "a", 0)
    record = read_generation(tmp_path / "a")
    assert record["seed"] == 0 and record["size"] == 16 and record["id"] == generation_id(0, 16, counts=COUNTS,
                                                                                           domains=DOMAINS)
    annotation = tmp_path / "a" / "decathlon-1.0" / "annotations" / "svhn_train.json"
    before = annotation.read_bytes()
    with pytest.raises(DataError, match="holds another MiniDecathlon .*seed 0.*seed 1.*choose another folder"):
        _make(tmp_path / "a", 1)
    with pytest.raises(DataError, match="another MiniDecathlon"):  # not even with force
        _make(tmp_path / "a", 1, force=True)
    assert annotation.read_bytes() == before  # untouched
    _make(tmp_path / "b", 1)
    assert read_generation(tmp_path / "b")["seed"] == 1 and read_generation(tmp_path / "a")["seed"] == 0
    assert read_generation(tmp_path / "a")["id"] != read_generation(tmp_path / "b")["id"]


def test_older_tree_without_generation_file_gets_one(tmp_path):
    _make(tmp_path, 0)
    tree = tmp_path / "decathlon-1.0"
    stamp = json.loads((tree / "generation.json").read_text())
    stamp.pop("id")
    (tree / "generation.json").rename(tree / "mini.json")
    (tree / "mini.json").write_text(json.dumps(stamp))
    _make(tmp_path, 0)  # same parameters: kept, and its identity recorded
    assert read_generation(tmp_path)["id"] == generation_id(0, 16, counts=COUNTS, domains=DOMAINS)
    with pytest.raises(DataError, match="another MiniDecathlon"):
        _make(tmp_path, 2)


def test_the_series_keeps_each_generation_in_its_own_folder():
    from paperlib.series.study import Study

    mini0, mini1 = Study(profile="mini", seed=0).root, Study(profile="mini", seed=1).root
    assert mini0 != mini1 and mini0.parent == mini1.parent  # data/mini/<id>: two seeds, two folders
    assert Study(profile="smoke").root.parent.name == "smoke"
    assert Study(profile="mini", data_root="/elsewhere").root.as_posix() == "/elsewhere"  # given: used as is
