"""Shared test helpers: tiny random datasets in the `paperlib.data.DomainSplit` format.

Also importable from scripts that tests launch as subprocesses (`from conftest import ...`,
with this folder on sys.path).
"""

from __future__ import annotations

import pytest
import torch

from paperlib.data import DomainSplit, domain_spec


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared machine with few cores
    OpenMP threads that wait for each other make a 0.2 s training take a minute."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_split(domain: str, split: str, *, n: int = 64, num_classes: int = 4, size: int = 16,
                 seed: int = 0, learnable: bool = True) -> DomainSplit:
    """Random uint8 images; with `learnable`, each class gets its own mean colour so a network can
    fit it quickly (a loss that falls means the engine trains)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    if learnable:
        palette = torch.randint(0, 256, (num_classes, 3), generator=g).float()
        images = (0.4 * images.float() + 0.6 * palette[labels][:, :, None, None]).round().to(torch.uint8)
    ids = torch.arange(n, dtype=torch.int64) + 1000 * (seed + 1)
    return DomainSplit(domain, split, images, labels.to(torch.int64), ids, num_classes)


def random_loader(*, n: int = 64, num_classes: int = 4, size: int = 18, n_eval: int = 32):
    """(domain, split) -> DomainSplit, deterministic per (domain, split). Centre-crop-only domains
    (gtsrb, omniglot, svhn: fed whole to the network) get sides rounded down to a multiple of 8."""
    cache: dict[tuple[str, str], DomainSplit] = {}

    def load(domain: str, split: str) -> DomainSplit:
        if (domain, split) not in cache:
            seed = sum(map(ord, domain + "/" + split))
            count = n if split in ("train", "trainval") else n_eval
            side = size // 8 * 8 if domain_spec(domain).center_crop_only else size
            cache[domain, split] = random_split(domain, split, n=count, num_classes=num_classes, size=side, seed=seed)
        return cache[domain, split]

    return load
