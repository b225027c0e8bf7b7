"""The MiniDecathlon sample sheet: one row per domain, a few training images each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from paperlib.core.errors import DataError
from paperlib.core.files import atomic_path
from paperlib.data.decathlon import read_file_split
from paperlib.data.domains import DOMAINS


def _pick(index, per_row: int, lowest_labels: bool = False) -> list[int]:
    """One image of each of the first classes met (so a row shows different classes), or of the
    lowest labels (the generated imagenet12 interleaves its families: its first eight labels are
    one class of each family of content), then, for domains with fewer classes than columns
    (daimlerpedcls), more images in order."""
    first: dict[int, int] = {}
    for i, label in enumerate(index.labels.tolist()):
        first.setdefault(label, i)
        if len(first) == per_row and not lowest_labels:
            break
    first = {label: first[label] for label in sorted(first)[:per_row]} if lowest_labels else first
    picked = list(first.values())
    picked += [i for i in range(len(index)) if i not in first.values()][:per_row - len(picked)]
    return picked


def plot_mini_samples(root: str | os.PathLike, out_path: str | os.PathLike, per_row: int = 8,
                      domains=DOMAINS) -> Path:
    """Draw ``per_row`` train images of each domain found under ROOT into a PNG (atomically).

    Uses a bare matplotlib Figure rendered by Agg, not pyplot: no display is needed and the
    caller's backend and figures (e.g. a notebook's) are left alone.
    """
    from matplotlib.figure import Figure

    rows = []
    for domain in domains:
        try:
            index = read_file_split(root, domain, "train")
        except DataError:
            continue
        rows.append((domain, [np.asarray(Image.open(index.path(i)).convert("RGB"))
                              for i in _pick(index, per_row, lowest_labels=domain == "imagenet12")]))
    if not rows:
        raise DataError(f"no domain with a train annotation under {Path(root) / 'decathlon-1.0'}")
    fig = Figure(figsize=(per_row * 0.9 + 1.2, len(rows) * 0.9))
    axes = fig.subplots(len(rows), per_row, squeeze=False)
    for r, (domain, images) in enumerate(rows):
        for c in range(per_row):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
        axes[r][0].set_ylabel(domain, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.08)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out_path
