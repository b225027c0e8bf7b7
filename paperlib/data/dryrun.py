"""A tree in the exact decathlon-1.0 layout with the real domains and class counts but a handful
of noise images: what `paperlib reproduce --profile full --dry-run` runs on where the real data
cannot be had (CI, a laptop), so the full profile's code path is exercised before a GPU run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from paperlib.data.domains import DOMAINS, domain_spec
from paperlib.data.facts import decathlon_counts


def write_real_format_tree(root: str | Path, *, size: int = 72, per_split: int = 8, seed: int = 0,
                           source_covers_classes: bool = True, test_labels: bool = True) -> Path:
    """Write ROOT/decathlon-1.0 with every domain's real categories and `per_split` images per
    split (JPEG, shorter side `size`, some wider than tall as in the real data). With
    `source_covers_classes`, imagenet12's train split has one image per class so that pretraining
    on a subset of the classes (Figure 4b) has data.

    The test split is always written as the Decathlon releases it, `<domain>_test_stripped.json`:
    the test images only, no annotations and no categories. `test_labels=True` adds the labelled
    `<domain>_test.json` of the authors' labels archive (data/labels.py), in its form (each
    annotation with the COCO fields the archive's carry, categories with their supercategory);
    `test_labels=False` gives the tree the Decathlon's own download gives."""
    rng = np.random.default_rng(seed)
    tree = Path(root) / "decathlon-1.0"
    (tree / "annotations").mkdir(parents=True, exist_ok=True)
    for domain in DOMAINS:
        prefix, classes = domain_spec(domain).id_prefix, decathlon_counts()[domain]["classes"]
        categories = [{"id": prefix + 1 + k, "name": f"{domain}-{k + 1}", "supercategory": domain}
                      for k in range(classes)]
        next_id = prefix + 1
        for split in ("train", "val", "test"):
            n = classes if (split == "train" and domain == "imagenet12" and source_covers_classes) else per_split
            images, annotations = [], []
            for i in range(n):
                label = i % classes if n >= classes else int(rng.integers(classes)) if i else classes - 1
                name = f"data/{domain}/{split}/{i + 1:06d}.jpg"
                width = size + 8 * (i % 3)
                pixels = rng.integers(0, 256, (size, width, 3), dtype=np.uint8)
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(tree / name, "JPEG", quality=80)
                images.append({"id": next_id, "file_name": name, "width": width, "height": size})
                annotations.append({"id": next_id, "image_id": next_id, "category_id": prefix + 1 + label,
                                    "segmentation": [], "area": 0, "bbox": [], "iscrowd": 0})
                next_id += 1
            data = {"info": {"description": "Decathlon", "dry_run": True}, "images": images,
                    "annotations": annotations, "categories": categories,
                    "licenses": [{"id": 1, "name": "decathlon", "url": ""}]}
            if split == "test":
                if test_labels:
                    _dump(tree / "annotations" / f"{domain}_test.json", data)
                _dump(tree / "annotations" / f"{domain}_test_stripped.json", stripped(data))
            else:
                _dump(tree / "annotations" / f"{domain}_{split}.json", data)
    return Path(root)


def stripped(data: dict) -> dict:
    """A labelled COCO-style split as the Decathlon releases its test split: the images (ids,
    file names, sizes) and nothing that gives the labels away (no annotations, no categories)."""
    return {k: v for k, v in data.items() if k not in ("annotations", "categories")}


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))
