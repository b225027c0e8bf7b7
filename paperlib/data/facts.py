"""Sizes of the real Visual Decathlon (docs/authors_code.md, "Classes / train / val / test images")."""

from __future__ import annotations


def decathlon_counts() -> dict[str, dict[str, int]]:
    """domain -> {"classes", "train", "val", "test"} of decathlon-1.0 (imagenet12 included)."""
    rows = {
        "aircraft": (100, 3334, 3333, 3333), "cifar100": (100, 40000, 10000, 10000),
        "daimlerpedcls": (2, 23520, 5880, 19600), "dtd": (47, 1880, 1880, 1880),
        "gtsrb": (43, 31367, 7842, 12630), "imagenet12": (1000, 1232167, 49000, 48238),
        "omniglot": (1623, 17853, 6492, 8115), "svhn": (10, 47217, 26040, 26032),
        "ucf101": (101, 7585, 1952, 3783), "vgg-flowers": (102, 1020, 1020, 6149),
    }
    return {d: dict(zip(("classes", "train", "val", "test"), r)) for d, r in rows.items()}
