"""Write the MiniDecathlon: ten procedural domains in the decathlon-1.0 layout.

Its sizes (`MiniCounts`, `default_counts`) and its identity (`generation_id`) are in counts.py,
which imports none of the drawing. Everything derives from the seed: the class designs from
(seed, domain), each image from (seed, domain, split, index), so the annotation files (and, with
the same Pillow and matplotlib fonts, the JPEGs) are identical for the same seed, whatever the
order in which images are drawn.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np
from tqdm import tqdm

from paperlib.core.errors import DataError
from paperlib.data.decathlon import TREE
from paperlib.data.domains import DOMAINS, check_domains, domain_spec
from paperlib.data.mini.counts import VERSION, MiniCounts, generation_id, generation_params, resolve_counts
from paperlib.data.mini.parallel import default_workers, family_for, render_split

SPLIT_CODES = MappingProxyType({"train": 1, "val": 2, "test": 3})  # part of each image's seed


def _coco(domain: str, family, images: list[dict], labels: list[int] | None, split: str, seed: int) -> dict:
    prefix = domain_spec(domain).id_prefix
    return {
        "info": {"description": f"MiniDecathlon {domain} {split} (paperlib, seed {seed})",
                 "version": f"mini-{VERSION}", "year": 2018},
        "licenses": [],
        "images": images,
        "annotations": [] if labels is None else [
            {"id": im["id"], "image_id": im["id"], "category_id": prefix + 1 + lab}
            for im, lab in zip(images, labels)],
        "categories": [{"id": prefix + 1 + k, "name": n} for k, n in enumerate(family.class_names)],
    }


def _write_domain(tree: Path, domain: str, counts: MiniCounts, seed: int, size: int,
                  quality: int, bar, workers: int | None = None) -> None:
    spec = domain_spec(domain)
    family = family_for(domain, counts.classes, seed, size)
    next_id = spec.id_prefix + 1
    for split, code in SPLIT_CODES.items():
        per_class = getattr(counts, split)
        labels = np.random.default_rng([seed, spec.index, code]).permutation(
            np.repeat(np.arange(counts.classes), per_class)).tolist()
        folder = tree / "data" / domain / split
        folder.mkdir(parents=True, exist_ok=True)
        sizes = render_split(tree, domain, counts.classes, seed, size, split, code, labels, quality,
                             default_workers() if workers is None else workers, bar)
        images = []
        for i, (width, height) in enumerate(sizes):
            images.append({"id": next_id, "file_name": f"data/{domain}/{split}/{i + 1:06d}.jpg",
                           "width": width, "height": height})
            next_id += 1
        ann = tree / "annotations"
        ann.mkdir(exist_ok=True)
        if split == "test":  # labelled (the separate labels archive) and stripped, as released
            _dump(ann / f"{domain}_test.json", _coco(domain, family, images, labels, split, seed))
            _dump(ann / f"{domain}_test_stripped.json", _coco(domain, family, images, None, split, seed))
        else:
            _dump(ann / f"{domain}_{split}.json", _coco(domain, family, images, labels, split, seed))


def _dump(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")))


GENERATION_FILE = "generation.json"  # in OUT/decathlon-1.0: the parameters the tree was made with


LEGACY_STAMP = "mini.json"  # the same, as generator version 1 named it


def read_generation(root: str | Path) -> dict | None:
    """The generation record of ROOT/decathlon-1.0 (with its "id"), None for a tree that is not a
    MiniDecathlon (the real data), or for an older MiniDecathlon without one."""
    path = Path(root) / TREE / GENERATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _describe(params: dict) -> str:
    return f"seed {params.get('seed')}, size {params.get('size')}, version {params.get('version')}"


def _existing(final: Path) -> dict:
    """The generation params of the tree at `final` (DataError if it is not a MiniDecathlon)."""
    for name in (GENERATION_FILE, LEGACY_STAMP):
        if (final / name).is_file():
            stored = json.loads((final / name).read_text())
            stored.pop("id", None)
            return stored
    raise DataError(f"{final} exists and is not a MiniDecathlon (no {GENERATION_FILE}): choose another --out")


def generate_mini(out_dir: str | Path, seed: int = 0, size: int = 36, *, scale: float = 1.0,
                  counts: Mapping[str, MiniCounts] | None = None, domains=DOMAINS,
                  quality: int = 90, force: bool = False) -> Path:
    """Write OUT/decathlon-1.0 (images with shorter side ``size``) and return OUT.

    ``scale`` multiplies the images per class and ``counts`` overrides a domain's numbers (both
    for tests). OUT/decathlon-1.0/generation.json records the parameters and their
    `generation_id`. An existing MiniDecathlon made with the same parameters is kept as is
    (unless ``force``: regenerated); one made with other parameters is never replaced (runs were
    trained on it): DataError, choose another folder; a tree that is not a MiniDecathlon (the
    real data) is never touched. The tree is written in a temporary sibling and renamed into place.
    """
    out_dir = Path(out_dir)
    domains = check_domains(domains)
    table = resolve_counts(scale, counts)
    stamp = generation_params(seed, size, scale=scale, counts=counts, domains=domains, quality=quality)
    identity = generation_id(seed, size, scale=scale, counts=counts, domains=domains, quality=quality)
    final = out_dir / TREE
    if final.exists():
        stored = _existing(final)
        if stored != stamp:
            raise DataError(f"{final} holds another MiniDecathlon ({_describe(stored)}); generating {_describe(stamp)} "
                            f"there would replace the data earlier runs used: choose another folder "
                            f"(e.g. {out_dir.parent / f'mini-{identity}'}) or delete {final}")
        if not force:
            if not (final / GENERATION_FILE).is_file():  # an older tree: record its identity
                (final / GENERATION_FILE).write_text(json.dumps({**stamp, "id": identity}, indent=1) + "\n")
            return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{TREE}.mini-"))
    try:
        tree = staging / TREE
        total = sum(table[d].classes * (table[d].train + table[d].val + table[d].test) for d in domains)
        with tqdm(total=total, desc="MiniDecathlon", unit="img", disable=None) as bar:
            for domain in domains:
                _write_domain(tree, domain, table[domain], seed, size, quality, bar)
        (tree / GENERATION_FILE).write_text(json.dumps({**stamp, "id": identity}, indent=1) + "\n")
        if final.exists():  # replace an older MiniDecathlon: move it aside first
            final.rename(staging / "old")
        tree.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
