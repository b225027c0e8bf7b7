"""MiniDecathlon: determinism from the seed, counts, layout, and the sample sheet."""

import hashlib
import json

import pytest

from paperlib.core.errors import DataError
from paperlib.data import DOMAINS, check, load_split, plot_mini_samples, prepare
from paperlib.data.mini.counts import MiniCounts, default_counts
from paperlib.data.mini.generate import generate_mini


def _small_counts():
    """All ten families at a few classes and images each, so the test runs in seconds."""
    return {d: MiniCounts(2 if d == "daimlerpedcls" else 4, 2, 1, 2) for d in DOMAINS}


def _digest(tree, pattern):
    return {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.glob(pattern))}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    return generate_mini(root / "a", seed=0, counts=_small_counts())


def test_same_seed_same_bytes_other_seed_differs(mini, tmp_path):
    again = generate_mini(tmp_path / "b", seed=0, counts=_small_counts())
    other = generate_mini(tmp_path / "c", seed=1, counts=_small_counts())
    tree = lambda root: root / "decathlon-1.0"  # noqa: E731
    assert _digest(tree(mini), "annotations/*.json") == _digest(tree(again), "annotations/*.json")
    assert _digest(tree(mini), "data/*/*/*.jpg") == _digest(tree(again), "data/*/*/*.jpg")
    a, c = _digest(tree(mini), "annotations/*.json"), _digest(tree(other), "annotations/*.json")
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)


def test_counts_and_layout(mini):
    ann = mini / "decathlon-1.0" / "annotations"
    for domain, c in _small_counts().items():
        train = json.loads((ann / f"{domain}_train.json").read_text())
        assert len(train["images"]) == c.classes * c.train == len(train["annotations"])
        assert len(train["categories"]) == c.classes
        assert set(train) == {"info", "licenses", "images", "annotations", "categories"}
        assert train["images"][0]["file_name"].startswith(f"data/{domain}/train/")
        assert min(im["height"] if im["width"] >= im["height"] else im["width"]
                   for im in train["images"]) == 36  # shorter side = size
        test = json.loads((ann / f"{domain}_test.json").read_text())
        stripped = json.loads((ann / f"{domain}_test_stripped.json").read_text())
        assert len(test["annotations"]) == c.classes * c.test and stripped["annotations"] == []
        assert [im["id"] for im in test["images"]] == [im["id"] for im in stripped["images"]]
    report = check(mini, workers=0)
    assert report.ok, report.format()


def test_prepare_mini_and_sample_sheet(mini, tmp_path):
    prepare(mini, tmp_path / "cache", ["omniglot", "ucf101"], ["train"], size=36, workers=0)
    split = load_split(tmp_path / "cache", "ucf101", "train")
    assert split.images.shape == (8, 3, 36, 36) and split.num_classes == 4
    out = plot_mini_samples(mini, tmp_path / "fig" / "samples.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_counts_mirror_the_real_spread():
    c = default_counts()
    train = {d: c[d].classes * c[d].train for d in DOMAINS}
    targets = sum(v for d, v in train.items() if d != "imagenet12")
    assert 8000 <= targets <= 12000 and train["imagenet12"] >= 50_000  # the source: data/README.md
    assert c["imagenet12"].classes == max(x.classes for d, x in c.items() if d != "omniglot")
    assert c["omniglot"].classes == max(x.classes for x in c.values())  # many classes, few shots
    assert c["daimlerpedcls"].classes == 2 and c["svhn"].classes == 10
    assert train["svhn"] > train["cifar100"] > train["dtd"] and train["vgg-flowers"] < train["aircraft"]


def test_kept_when_up_to_date_and_never_overwrites_real_data(mini, tmp_path):
    ann = mini / "decathlon-1.0" / "annotations" / "dtd_train.json"
    stamp = ann.stat().st_mtime_ns
    generate_mini(mini, seed=0, counts=_small_counts())
    assert ann.stat().st_mtime_ns == stamp
    (tmp_path / "real" / "decathlon-1.0").mkdir(parents=True)
    with pytest.raises(DataError, match="not a MiniDecathlon"):
        generate_mini(tmp_path / "real", counts=_small_counts())


def test_scale_and_subset(tmp_path):
    root = generate_mini(tmp_path, seed=0, domains=("svhn", "daimlerpedcls"), scale=0.01)
    report = check(root, workers=0)
    rows = {(s.domain, s.split): s.images for s in report.splits}
    assert rows == {("daimlerpedcls", "train"): 12, ("daimlerpedcls", "val"): 4, ("daimlerpedcls", "test"): 8,
                    ("svhn", "train"): 20, ("svhn", "val"): 10, ("svhn", "test"): 10}  # round(2.5) = 2
    assert not list(tmp_path.glob(".decathlon-1.0*"))  # no staging folder left behind
