"""Render the MiniDecathlon's images on several processes.

Every image depends only on (seed, domain, split, index), so chunks of a split can be drawn in
any order on any process and the files are the same. A domain's class designs (``Family``) are
built once in the parent and reach the workers by ``fork`` (its ``render`` is a closure, which
cannot be pickled); where ``fork`` does not exist each worker builds them again from the seed.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import signal
from pathlib import Path

import numpy as np

from paperlib.core.machine import usable_cores
from paperlib.data.domains import domain_spec
from paperlib.data.mini.families import builders

CHUNK = 200  # images per task: large enough to hide the inter-process traffic


def default_workers() -> int:
    """The CPU cores this process may use (at most 8: the tree is small)."""
    return min(8, usable_cores())


@functools.lru_cache(maxsize=2)
def family_for(domain: str, classes: int, seed: int, size: int):
    """The domain's class designs, from (seed, domain) only; cached so forked workers share it."""
    return builders()[domain](classes, np.random.default_rng([seed, domain_spec(domain).index, 0]), size)


def _jpeg(img, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _render_chunk(task) -> list[tuple[int, int]]:
    """Draw and write images (i, label) of one split; returns their (width, height)."""
    tree, domain, classes, seed, size, split, code, quality, items = task
    family = family_for(domain, classes, seed, size)
    index = domain_spec(domain).index
    sizes = []
    for i, label in items:
        img = family.render(label, np.random.default_rng([seed, index, code, i]))
        (Path(tree) / f"data/{domain}/{split}/{i + 1:06d}.jpg").write_bytes(_jpeg(img, quality))
        sizes.append((img.width, img.height))
    return sizes


def _default_sigterm() -> None:
    """A pool's workers end on SIGTERM (how `Pool.terminate` stops them). A forked worker inherits
    the parent's Python handler instead, which would then run in the worker: a fork server's
    handler that kills the processes it knows (mutmut's) kills its other test runs."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def render_split(tree: Path, domain: str, classes: int, seed: int, size: int, split: str,
                 code: int, labels: list[int], quality: int, workers: int, bar) -> list[tuple[int, int]]:
    """Write data/<domain>/<split>/NNNNNN.jpg for every label; (width, height) per image, in order."""
    items = list(enumerate(labels))
    tasks = [(str(tree), domain, classes, seed, size, split, code, quality, items[k:k + CHUNK])
             for k in range(0, len(items), CHUNK)]
    family_for(domain, classes, seed, size)  # built here, before the fork
    sizes: list[tuple[int, int]] = []
    if workers <= 1 or len(tasks) <= 1:
        chunks = map(_render_chunk, tasks)
        for chunk in chunks:
            sizes += chunk
            bar.update(len(chunk))
        return sizes
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(min(workers, len(tasks)), initializer=_default_sigterm) as pool:
        for chunk in pool.imap(_render_chunk, tasks):
            sizes += chunk
            bar.update(len(chunk))
    return sizes
