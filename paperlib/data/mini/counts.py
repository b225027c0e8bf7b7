"""The MiniDecathlon's sizes and its generation identity, without the generator (generate.py):
what a profile, the cost model and the data sheet know of a generation without drawing one.

Counts mirror the real spread (docs/authors_code.md, "Classes / train / val / test") scaled down:
the nine targets keep their order of magnitude relative to each other (svhn and cifar100 large,
dtd and vgg-flowers few-shot, omniglot many classes with few shots, daimlerpedcls two classes)
for ~11k training images in all; imagenet12, the pretraining source, follows the principles of
the data sheet (source.py): 256 classes of eight families, 51,200 training images, over 20x svhn's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Mapping

from paperlib.data.domains import DOMAINS, check_domains

VERSION = 2  # bump when the drawings change: the generation id changes with it


@dataclass(frozen=True)
class MiniCounts:
    """Classes, and images per class in each split."""

    classes: int
    train: int
    val: int
    test: int


def default_counts() -> dict[str, MiniCounts]:
    """Real (classes / train images) -> mini, e.g. svhn 10 / 47217 -> 10 / 2500."""
    return {
        "aircraft": MiniCounts(50, 15, 5, 6),  # 100 / 3334: fine-grained
        "cifar100": MiniCounts(100, 20, 5, 10),  # 100 / 40000
        "daimlerpedcls": MiniCounts(2, 600, 150, 400),  # 2 / 23520
        "dtd": MiniCounts(47, 8, 8, 8),  # 47 / 1880: few shots
        "gtsrb": MiniCounts(43, 40, 10, 20),  # 43 / 31367
        "imagenet12": MiniCounts(256, 200, 10, 10),  # 1000 / 1.2M: the source, >= 20x svhn (source.py)
        "omniglot": MiniCounts(300, 6, 2, 3),  # 1623 / 17853: many classes, few shots
        "svhn": MiniCounts(10, 250, 50, 100),  # 10 / 47217
        "ucf101": MiniCounts(40, 15, 4, 8),  # 101 / 7585
        "vgg-flowers": MiniCounts(60, 6, 6, 10),  # 102 / 1020: few shots
    }


def resolve_counts(scale: float = 1.0,
                   counts: Mapping[str, MiniCounts] | None = None) -> dict[str, MiniCounts]:
    """Default counts with overrides, images per class multiplied by ``scale`` (at least 1)."""
    table = default_counts()
    table.update(counts or {})
    per = lambda n: max(1, int(round(n * scale)))  # noqa: E731
    return {d: MiniCounts(c.classes, per(c.train), per(c.val), per(c.test)) for d, c in table.items()}


def generation_params(seed: int = 0, size: int = 36, *, scale: float = 1.0,
                      counts: Mapping[str, MiniCounts] | None = None, domains=DOMAINS,
                      quality: int = 90) -> dict:
    """Everything the generated tree depends on: generator version, seed, size, JPEG quality and
    the resolved counts (classes and images per class) of each domain."""
    table = resolve_counts(scale, counts)
    return {"generator": "paperlib MiniDecathlon", "version": VERSION, "seed": seed, "size": size,
            "quality": quality, "counts": {d: asdict(table[d]) for d in check_domains(domains)}}


def generation_id(seed: int = 0, size: int = 36, *, scale: float = 1.0,
                  counts: Mapping[str, MiniCounts] | None = None, domains=DOMAINS, quality: int = 90) -> str:
    """12 hex digits of the SHA-256 of `generation_params` (stable JSON): the data's identity.
    Two generations share an id exactly when they make the same tree; a caller keeps each in its
    own folder (the series uses ``data/<profile>/<id>``) and puts the id in the identity of the runs trained on it."""
    params = generation_params(seed, size, scale=scale, counts=counts, domains=domains, quality=quality)
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


__all__ = ["VERSION", "MiniCounts", "default_counts", "resolve_counts", "generation_params", "generation_id"]
