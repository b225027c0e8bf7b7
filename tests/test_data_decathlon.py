"""The decathlon-1.0 reader: labels and ids per split, bad ids, missing files (docs/authors_code.md layout)."""

import json

import numpy as np
import pytest

from paperlib.core.errors import DataError
from paperlib.data import DOMAINS, domain_spec, read_split
from paperlib.data.tiny import write_tiny_tree


@pytest.fixture()
def tree(tmp_path):
    return tmp_path, write_tiny_tree(tmp_path, domains=("aircraft", "gtsrb"))


def test_domains_and_specs():
    assert DOMAINS[0] == "aircraft" and DOMAINS[5] == "imagenet12" and DOMAINS[-1] == "vgg-flowers"
    assert [domain_spec(d).index for d in DOMAINS] == list(range(1, 11))
    assert domain_spec("omniglot").mean == (.0810, .0810, .0810)
    assert {d for d in DOMAINS if domain_spec(d).center_crop_only} == {"gtsrb", "omniglot", "svhn"}
    with pytest.raises(ValueError, match="aircraft.*vgg-flowers"):
        domain_spec("mnist")


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_labels_and_ids(tree, split):
    root, expected = tree
    for domain in ("aircraft", "gtsrb"):
        index = read_split(root, domain, split)
        rows = expected[(domain, split)]
        assert index.image_ids.tolist() == [r[0] for r in rows]
        assert list(index.file_names) == [r[1] for r in rows]
        assert index.labels.tolist() == [r[2] for r in rows]
        assert index.num_classes == 3 and index.labelled
        assert index.annotation_files[0].name == f"{domain}_{split}.json"
        assert index.image_ids.min() // 10**7 == domain_spec(domain).index


def test_trainval_is_train_then_val(tree):
    root, expected = tree
    index = read_split(root, "aircraft", "trainval")
    rows = expected[("aircraft", "train")] + expected[("aircraft", "val")]
    assert index.image_ids.tolist() == [r[0] for r in rows]
    assert index.labels.tolist() == [r[2] for r in rows]


def test_stripped_test_is_unlabelled(tmp_path):
    expected = write_tiny_tree(tmp_path, domains=("dtd",), labelled_test=False)
    index = read_split(tmp_path, "dtd", "test")
    assert index.annotation_files[0].name == "dtd_test_stripped.json"
    assert (index.labels == -1).all() and not index.labelled
    assert index.image_ids.tolist() == [r[0] for r in expected[("dtd", "test")]]


def _edit(root, name, fn):
    path = root / "decathlon-1.0" / "annotations" / name
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("bad_id", [20000001, 10000004, 10000000])  # other domain, beyond, below
def test_wrong_category_id_raises(tree, bad_id):
    root, _ = tree
    _edit(root, "aircraft_train.json", lambda d: d["annotations"][1].update(category_id=bad_id))
    with pytest.raises(DataError, match=str(bad_id)):
        read_split(root, "aircraft", "train")


def test_category_of_other_domain_raises(tree):
    root, _ = tree
    _edit(root, "gtsrb_val.json", lambda d: d["categories"].append({"id": 10000004, "name": "x"}))
    with pytest.raises(DataError, match="not of domain gtsrb"):
        read_split(root, "gtsrb", "val")


def test_missing_root_is_one_line(tmp_path):
    with pytest.raises(DataError) as err:
        read_split(tmp_path / "nowhere", "aircraft", "train")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nowhere" / "decathlon-1.0") in msg
    assert "paperlib data download" in msg and "paperlib data mini" in msg


def test_missing_annotation_is_one_line(tree):
    root, _ = tree
    with pytest.raises(DataError) as err:
        read_split(root, "svhn", "train")
    msg = str(err.value)
    assert "\n" not in msg and "svhn_train.json" in msg and "paperlib data download" in msg
    with pytest.raises(ValueError):
        read_split(root, "aircraft", "minival")


def test_labels_follow_image_ids_not_positions(tree):
    root, expected = tree
    _edit(root, "aircraft_val.json", lambda d: d["annotations"].reverse())
    labels = read_split(root, "aircraft", "val").labels
    assert labels.tolist() == [r[2] for r in expected[("aircraft", "val")]] and np.all(labels >= 0)
