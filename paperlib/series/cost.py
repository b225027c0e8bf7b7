"""What a run costs, before and after its data exists: the images it trains on and its training
FLOPs, predicted from the data's known sizes (the MiniDecathlon generator's counts, the
Decathlon's published ones) so that plans stay a pure function of the profile, or counted from a
prepared cache's manifests. `paperlib reproduce --plan` prints these; the workers start the
longest chain of work first by them.

A run's training images: its domains' images (of its train split, trainval = train + val) x the
fractions it keeps (`train_fraction`, `class_fraction`) x epochs, or batches x batch size where
the steps per epoch are limited (smoke, dry runs). A FLOP of training is 3 x the forward pass's
(the backward computes two products per forward one), 2 FLOPs a multiply-accumulate.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import torch

from paperlib.core.files import read_json
from paperlib.data.cache import entry_dir
from paperlib.data.decathlon import split_parts
from paperlib.data.domains import SOURCE
from paperlib.data.facts import decathlon_counts
from paperlib.data.mini.counts import resolve_counts
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import count_macs
from paperlib.train.profiles import Profile
from paperlib.train.spec import TrainConfig

# ---------------------------------------------------------------- predicted from the data's sizes


def expected_train_images(settings: Profile, domain: str, fraction: float) -> int:
    """Images of `domain` a run of the profile trains on at `fraction` (class-stratified:
    round(f x n_c), at least one, per class, as run_data.stratified_subset draws them). Exact for
    the MiniDecathlon (every class has the same count); the real Decathlon's per-class counts are
    not known without its labels: round(f x n) there."""
    splits = split_parts(settings.train_split)
    if settings.mini_scale is not None:
        c = resolve_counts(settings.mini_scale)[domain]
        per_class = sum(getattr(c, split) for split in splits)
        return c.classes * (per_class if fraction >= 1.0 else max(1, round(fraction * per_class)))
    n = sum(decathlon_counts()[domain][split] for split in splits)
    return n if fraction >= 1.0 else max(1, round(fraction * n))


def expected_batches(settings: Profile, domain: str, fraction: float) -> int:
    """Steps per epoch of a one-domain run of the profile on `fraction` of `domain`."""
    steps = max(1, expected_train_images(settings, domain, fraction) // settings.batch_size)
    return steps if settings.limit_batches is None else min(steps, settings.limit_batches)


def source_images(settings: Profile, fraction: float) -> int:
    """Source training images a pretraining on `fraction` of them sees (the source trains on its
    train split whatever the profile's targets train on)."""
    if settings.mini_scale is None:
        return round(decathlon_counts()[SOURCE]["train"] * fraction)
    counts = resolve_counts(settings.mini_scale)[SOURCE]
    return counts.classes * max(1, round(counts.train * fraction))


# ---------------------------------------------------------------- counted from a prepared cache


def prepared_count(cache_dir: str | os.PathLike, domain: str, split: str) -> int | None:
    """Images of one split in the prepared cache (its manifest), None where it is not prepared."""
    manifest = entry_dir(cache_dir, domain, split) / "manifest.json"
    return read_json(manifest)["count"] if manifest.is_file() else None


def train_set_sizes(settings: Profile, cache_dir: str | os.PathLike) -> dict[str, int]:
    """Training images per domain of the profile's train split: from the prepared cache when
    there is one, else the real Decathlon's (data.facts). The source always trains on train."""
    real = decathlon_counts()
    sizes = {}
    for d in real:
        counts = [prepared_count(cache_dir, d, split) for split in ("train", "val")]
        if None in counts:
            counts = [real[d]["train"], real[d]["val"]]
        trainval = settings.train_split == "trainval" and d != SOURCE
        sizes[d] = counts[0] + (counts[1] if trainval else 0)
    return sizes


# ---------------------------------------------------------------- images and FLOPs of a run


def training_images(config: TrainConfig, train_size: Callable[[str], int]) -> float:
    """Images a run trains on, all epochs (`train_size(domain)`: the images of its train split)."""
    per_epoch = sum(train_size(d) for d in config.domains) * config.train_fraction * config.class_fraction
    if config.train_limit_batches is not None:
        per_epoch = min(per_epoch, config.train_limit_batches * config.batch_size)
    return per_epoch * config.epochs


@functools.lru_cache(maxsize=None)
def training_flops_per_image(width: float, crop: int, *, adapter: str | None, placement: str, method: str) -> float:
    """FLOPs of one training image: 3 x the forward pass (`sizes.count_macs`, 2 FLOPs a MAC)."""
    model = ResNet26.build([(SOURCE, 1000)], width=width, adapter=adapter, placement=placement)
    return 3 * 2 * count_macs(model, torch.zeros(1, 3, crop, crop), domain=SOURCE)["total"]


def run_flops(config: TrainConfig, train_size: Callable[[str], int], default_crop: int = 64) -> float:
    """A run's training FLOPs: `training_images` x `training_flops_per_image`."""
    per_image = training_flops_per_image(config.width, config.crop or default_crop, adapter=config.adapter,
                                         placement=config.placement, method=config.method)
    return training_images(config, train_size) * per_image


def estimated_flops(config: TrainConfig, cache_dir: str | Path) -> float:
    """A run's training FLOPs, its images counted from the prepared cache's manifests (0 for a
    split that is not prepared)."""
    return run_flops(config, lambda d: sum(prepared_count(cache_dir, d, s) or 0 for s in split_parts(config.train_split)))
