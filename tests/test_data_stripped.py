"""The Decathlon as it is released: the test split stripped (images only, no annotations, no
categories). The dry-run tree can be generated that way, and the reader, cache and checker take it
with the labels unknown (-1) and the classes of the train split."""

import json

import pytest

from paperlib.data import DOMAINS, check, load_split, prepare, read_split
from paperlib.data.dryrun import write_real_format_tree
from paperlib.data.facts import decathlon_counts


@pytest.fixture(scope="module")
def stripped_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("stripped")
    return write_real_format_tree(root, per_split=3, source_covers_classes=False, test_labels=False)


def test_stripped_tree_has_the_released_files(stripped_root):
    ann = stripped_root / "decathlon-1.0" / "annotations"
    assert sorted(p.name for p in ann.glob("*_test*.json")) == sorted(f"{d}_test_stripped.json" for d in DOMAINS)
    for domain in DOMAINS:
        test = json.loads((ann / f"{domain}_test_stripped.json").read_text())
        assert "annotations" not in test and "categories" not in test and len(test["images"]) == 3
        train = json.loads((ann / f"{domain}_train.json").read_text())
        assert len(train["categories"]) == decathlon_counts()[domain]["classes"]


def test_reader_takes_the_stripped_test_split(stripped_root):
    for domain in DOMAINS:
        test, train = read_split(stripped_root, domain, "test"), read_split(stripped_root, domain, "train")
        assert not test.labelled and (test.labels == -1).all() and train.labelled
        assert test.num_classes == decathlon_counts()[domain]["classes"] == train.num_classes
        assert test.image_ids.min() // 10**7 == DOMAINS.index(domain) + 1
        assert test.annotation_files[0].name == f"{domain}_test_stripped.json"


def test_cache_and_check_take_the_stripped_test_split(stripped_root, tmp_path):
    manifests = prepare(stripped_root, tmp_path / "cache", ["omniglot", "daimlerpedcls"], ["val", "test"],
                        size=16, workers=0)
    test = {m["domain"]: m for m in manifests if m["split"] == "test"}
    assert {d: (m["labelled"], m["num_classes"], m["count"]) for d, m in test.items()} == {
        "omniglot": (False, 1623, 3), "daimlerpedcls": (False, 2, 3)}
    split = load_split(tmp_path / "cache", "omniglot", "test")
    assert (split.labels == -1).all()
    assert split.image_ids.tolist() == read_split(stripped_root, "omniglot", "test").image_ids.tolist()
    report = check(stripped_root, ["dtd"], decode=False)
    assert report.ok and "dtd_test_stripped.json (unlabelled)" in report.format()


def test_labelled_tree_still_reads_labelled_test(tmp_path):
    root = write_real_format_tree(tmp_path, per_split=3, source_covers_classes=False)
    test = read_split(root, "svhn", "test")
    assert test.labelled and test.annotation_files[0].name == "svhn_test.json"
    stripped = json.loads((root / "decathlon-1.0/annotations/svhn_test_stripped.json").read_text())
    assert [im["id"] for im in stripped["images"]] == test.image_ids.tolist() and "annotations" not in stripped
