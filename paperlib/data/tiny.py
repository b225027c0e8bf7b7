"""A tiny decathlon-1.0 tree for tests: a few solid-colour images per class, real layout.

Used by this package's tests and available to others (e.g. a training-engine smoke test) that
need a tree on disk in milliseconds. Colours encode (label, index) so tests can check that the
right pixels land under the right label.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from paperlib.data.decathlon import TREE
from paperlib.data.domains import domain_spec


def tiny_colour(label: int, i: int) -> tuple[int, int, int]:
    return (40 + 50 * (label % 4), 30 + 20 * (i % 10), 200 - 60 * (label // 4 % 3))


def write_tiny_tree(root: str | Path, domains=("aircraft", "gtsrb"), classes: int = 3,
                    per_class=(2, 1, 2), size=(12, 10), labelled_test: bool = True) -> dict:
    """Write ROOT/decathlon-1.0 with ``per_class`` = (train, val, test) images per class.

    Returns {(domain, split): [(image_id, file_name, label), ...]} in annotation order.
    """
    tree = Path(root) / TREE
    (tree / "annotations").mkdir(parents=True, exist_ok=True)
    expected = {}
    for domain in domains:
        prefix = domain_spec(domain).id_prefix
        next_id = prefix + 1
        cats = [{"id": prefix + 1 + k, "name": f"class{k}"} for k in range(classes)]
        for split, n in zip(("train", "val", "test"), per_class):
            images, anns, rows = [], [], []
            for i in range(n * classes):
                label = (i * 2 + 1) % classes  # labels not sorted, ids not aligned with labels
                name = f"data/{domain}/{split}/{i + 1:06d}.jpg"
                path = tree / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", size, tiny_colour(label, i)).save(path, "JPEG", quality=95)
                images.append({"id": next_id, "file_name": name, "width": size[0], "height": size[1]})
                anns.append({"id": next_id, "image_id": next_id, "category_id": prefix + 1 + label})
                rows.append((next_id, name, label))
                next_id += 1
            expected[(domain, split)] = rows
            data = {"info": {}, "licenses": [], "images": images, "annotations": anns, "categories": cats}
            if split == "test":
                if labelled_test:
                    _dump(tree / "annotations" / f"{domain}_test.json", data)
                _dump(tree / "annotations" / f"{domain}_test_stripped.json", dict(data, annotations=[]))
            else:
                _dump(tree / "annotations" / f"{domain}_{split}.json", data)
    return expected


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))
