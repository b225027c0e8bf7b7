"""Decode-once cache: RGB conversion, corrupt files, manifest rebuilds, load_split."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from paperlib.core.errors import DataError
from paperlib.data import check, load_split, prepare
from paperlib.data.images import decode_image
from paperlib.data.tiny import tiny_colour, write_tiny_tree

SIZE = 8


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "root"
    return root, write_tiny_tree(root, domains=("aircraft", "svhn"))


def _replace_image(root, domain, split, i, img, fmt, ext):
    """Swap image i of a split for ``img`` saved as ``fmt``; returns its new file name."""
    ann = root / "decathlon-1.0" / "annotations" / f"{domain}_{split}.json"
    data = json.loads(ann.read_text())
    name = data["images"][i]["file_name"].rsplit(".", 1)[0] + "." + ext
    img.save(root / "decathlon-1.0" / name, fmt)
    data["images"][i]["file_name"] = name
    ann.write_text(json.dumps(data))
    return name


def test_prepare_and_load(tree, tmp_path):
    root, expected = tree
    manifests = prepare(root, tmp_path / "cache", size=SIZE, workers=0)
    assert {(m["domain"], m["split"]) for m in manifests} == {
        (d, s) for d in ("aircraft", "svhn") for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        got = load_split(tmp_path / "cache", "aircraft", split)
        rows = expected[("aircraft", split)]
        assert got.images.dtype == torch.uint8 and got.images.shape == (len(rows), 3, SIZE, SIZE)
        assert got.labels.dtype == torch.int64 and got.labels.tolist() == [r[2] for r in rows]
        assert got.image_ids.tolist() == [r[0] for r in rows] and len(got) == len(rows)
        assert got.num_classes == 3
        # solid colours survive JPEG and the resize: the right image sits under the right label
        for i, (_, _, label) in enumerate(rows):
            assert np.allclose(got.images[i, :, 4, 4].numpy(), tiny_colour(label, i), atol=6)
    both = load_split(tmp_path / "cache", "aircraft", "trainval")
    rows = expected[("aircraft", "train")] + expected[("aircraft", "val")]
    assert both.labels.tolist() == [r[2] for r in rows] and both.images.shape[0] == len(rows)


def test_parallel_decode_gives_the_same_bytes(tree, tmp_path):
    root, _ = tree
    prepare(root, tmp_path / "a", ["svhn"], ["train"], size=SIZE, workers=0)
    prepare(root, tmp_path / "b", ["svhn"], ["train"], size=SIZE, workers=2)
    a, b = (np.load(tmp_path / c / "svhn/train/images.npy") for c in "ab")
    assert np.array_equal(a, b)


def test_image_modes_come_out_rgb(tree, tmp_path):
    root, _ = tree
    cases = [  # (image, format, extension, expected RGB)
        (Image.new("L", (12, 10), 100), "JPEG", "jpg", (100, 100, 100)),
        (Image.new("CMYK", (12, 10), (0, 255, 255, 0)), "JPEG", "jpg", (255, 0, 0)),
        (Image.new("RGBA", (12, 10), (10, 200, 30, 128)), "PNG", "png", (10, 200, 30)),
        (Image.new("RGB", (12, 10), (0, 0, 255)).convert("P"), "PNG", "png", (0, 0, 255)),
        (Image.new("LA", (12, 10), (77, 0)), "PNG", "png", (77, 77, 77)),
    ]
    for i, (img, fmt, ext, _) in enumerate(cases):
        _replace_image(root, "aircraft", "train", i, img, fmt, ext)
    prepare(root, tmp_path / "cache", ["aircraft"], ["train"], size=SIZE, workers=0)
    images = load_split(tmp_path / "cache", "aircraft", "train").images
    for i, (*_, rgb) in enumerate(cases):
        assert np.allclose(images[i, :, 4, 4].numpy(), rgb, atol=4), (i, images[i, :, 4, 4])


def test_resize_shorter_side_then_centre_crop(tmp_path):
    img = Image.new("RGB", (30, 10), (255, 0, 0))  # red | green | blue thirds, 10 px each
    img.paste((0, 255, 0), (10, 0, 20, 10))
    img.paste((0, 0, 255), (20, 0, 30, 10))
    img.save(tmp_path / "x.png")
    out = decode_image(tmp_path / "x.png", 5)  # 15 x 5, then the middle 5 x 5: green
    assert out.shape == (3, 5, 5) and out.dtype == np.uint8
    assert (out[1] > 200).all() and (out[0] < 60).all() and (out[2] < 60).all()


def test_corrupt_image_skipped_listed_and_checked(tree, tmp_path):
    root, expected = tree
    rows = expected[("aircraft", "train")]
    path = root / "decathlon-1.0" / rows[2][1]
    path.write_bytes(path.read_bytes()[:60])  # truncated JPEG
    (root / "decathlon-1.0" / rows[4][1]).write_bytes(b"not an image at all")
    report = check(root, workers=0)
    assert not report.ok and len(report.problems) == 2
    assert all("unreadable" in p for p in report.problems) and rows[2][1] in report.format()
    row = next(s for s in report.splits if (s.domain, s.split) == ("aircraft", "train"))
    assert row.unreadable == 2 and row.images == len(rows)
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        prepare(root, tmp_path / "cache", ["aircraft"], ["train"], size=SIZE, workers=0)
    got = load_split(tmp_path / "cache", "aircraft", "train")
    kept = [r for k, r in enumerate(rows) if k not in (2, 4)]
    assert got.image_ids.tolist() == [r[0] for r in kept] and got.labels.tolist() == [r[2] for r in kept]
    manifest = json.loads((tmp_path / "cache/aircraft/train/manifest.json").read_text())
    assert [s["file_name"] for s in manifest["skipped"]] == [rows[2][1], rows[4][1]]
    assert manifest["count"] == len(kept) and manifest["listed"] == len(rows)


def test_missing_image_is_a_check_problem(tree):
    root, expected = tree
    (root / "decathlon-1.0" / expected[("svhn", "val")][0][1]).unlink()
    (root / "decathlon-1.0" / "annotations" / "svhn_test_stripped.json").unlink()
    (root / "decathlon-1.0" / "annotations" / "svhn_test.json").unlink()
    report = check(root, workers=0)
    text = "\n".join(report.problems)
    assert "missing image" in text and "svhn_test_stripped.json not found" in text
    assert len(report.problems) == 2


def test_manifest_rebuilt_when_annotation_or_size_changes(tree, tmp_path):
    root, _ = tree
    cache = tmp_path / "cache"
    prepare(root, cache, ["aircraft"], ["val"], size=SIZE, workers=0)
    images = cache / "aircraft/val/images.npy"
    stamp = images.stat().st_mtime_ns
    prepare(root, cache, ["aircraft"], ["val"], size=SIZE, workers=0)  # up to date: untouched
    assert images.stat().st_mtime_ns == stamp
    ann = root / "decathlon-1.0/annotations/aircraft_val.json"
    data = json.loads(ann.read_text())
    data["images"], data["annotations"] = data["images"][1:], data["annotations"][1:]
    ann.write_text(json.dumps(data))
    (m,) = prepare(root, cache, ["aircraft"], ["val"], size=SIZE, workers=0)
    assert m["count"] == 2 and len(load_split(cache, "aircraft", "val")) == 2
    (m,) = prepare(root, cache, ["aircraft"], ["val"], size=SIZE + 2, workers=0)
    assert m["size"] == SIZE + 2 and load_split(cache, "aircraft", "val").images.shape[-1] == SIZE + 2
    leftovers = [p for p in os.listdir(cache / "aircraft/val") if p.endswith(".tmp")]
    assert not leftovers


def test_stripped_test_prepares_unlabelled(tmp_path):
    write_tiny_tree(tmp_path / "root", domains=("dtd",), labelled_test=False)
    (m,) = prepare(tmp_path / "root", tmp_path / "cache", None, ["test"], size=SIZE, workers=0)
    assert not m["labelled"] and m["num_classes"] == 3
    assert (load_split(tmp_path / "cache", "dtd", "test").labels == -1).all()


def test_missing_cache_is_one_line(tmp_path):
    with pytest.raises(DataError) as err:
        load_split(tmp_path / "cache", "svhn", "train")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "cache" / "svhn" / "train") in msg
    assert "paperlib data prepare" in msg
