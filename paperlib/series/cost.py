"""What a run costs, before it runs: the images it trains on and its training FLOPs, from the
profile's own data without reading it (the MiniDecathlon generator's counts at smoke and mini;
at full a prepared cache's manifests, else the Decathlon's published counts), so that a plan
stays a pure function of the profile. `paperlib reproduce --plan` prints these (and
`series.estimate` turns them into time); the workers start the longest chain of work first by
them.

A run's training images: its domains' images of its train split (trainval = train + val), of the
classes and the class-stratified fraction it keeps (`class_fraction`, `train_fraction`), x epochs;
at most batches x batch size an epoch where the steps are limited (smoke, dry runs). A FLOP of
training is 3 x the forward pass's (the backward computes two products per forward one), 2 FLOPs
a multiply-accumulate, at the side each domain trains at."""

from __future__ import annotations

import functools
import os

import torch

from paperlib.core.files import read_json
from paperlib.data.cache import entry_dir
from paperlib.data.decathlon import split_parts
from paperlib.data.domains import SOURCE
from paperlib.data.facts import decathlon_counts
from paperlib.data.mini.counts import resolve_counts
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import count_macs
from paperlib.train.profiles import Profile, get_profile
from paperlib.train.run_data import input_spec
from paperlib.train.spec import TrainConfig

# ---------------------------------------------------------------- the images of the profile's data


def prepared_count(cache_dir: str | os.PathLike, domain: str, split: str) -> int | None:
    """Images of one split in the prepared cache (its manifest), None where it is not prepared."""
    manifest = entry_dir(cache_dir, domain, split) / "manifest.json"
    return read_json(manifest)["count"] if manifest.is_file() else None


def kept_images(settings: Profile, domain: str, splits: tuple[str, ...], *, train_fraction: float = 1.0,
                class_fraction: float = 1.0, cache_dir: str | os.PathLike | None = None) -> int:
    """Images of `domain` in `splits` that a run of the profile keeps: round(class_fraction x
    classes) classes (at least one, `run_data.class_subset`), then round(train_fraction x n_c) of
    each class c (at least one, `run_data.stratified_subset`). The MiniDecathlon's from the
    generator's counts (exact: every class has the same count; its cache is never read); the real
    Decathlon's from a prepared cache's manifests where `cache_dir` has them, else from its
    published counts, in proportion (its per-class counts are not known without its labels)."""
    mini = resolve_counts(settings.mini_scale) if settings.mini_scale is not None else {}
    if domain in mini:
        c = mini[domain]
        classes = c.classes if class_fraction >= 1.0 else max(1, round(class_fraction * c.classes))
        per_class = sum(getattr(c, split) for split in splits)
        return classes * (per_class if train_fraction >= 1.0 else max(1, round(train_fraction * per_class)))
    counts = [prepared_count(cache_dir, domain, split) if cache_dir is not None else None for split in splits]
    published = decathlon_counts().get(domain, {})  # a domain of the user's own: its cache only
    n = sum(published.get(split, 0) if count is None else count for split, count in zip(splits, counts))
    n = n if class_fraction >= 1.0 else max(1, round(class_fraction * n))
    return n if train_fraction >= 1.0 else max(1, round(train_fraction * n))


def expected_train_images(settings: Profile, domain: str, fraction: float) -> int:
    """Images of `domain` a run of the profile trains on (its `train_split`) at `fraction`."""
    return kept_images(settings, domain, split_parts(settings.train_split), train_fraction=fraction)


def expected_batches(settings: Profile, domain: str, fraction: float) -> int:
    """Steps per epoch of a one-domain run of the profile on `fraction` of `domain`."""
    steps = max(1, expected_train_images(settings, domain, fraction) // settings.batch_size)
    return steps if settings.limit_batches is None else min(steps, settings.limit_batches)


def source_images(settings: Profile, fraction: float) -> int:
    """Source training images a pretraining on `fraction` of them sees (the source trains on its
    train split whatever the profile's targets train on)."""
    return kept_images(settings, SOURCE, ("train",), train_fraction=fraction)


# ---------------------------------------------------------------- images and FLOPs of a run


def epoch_images(config: TrainConfig, cache_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """domain -> images one epoch of the run trains on: its domains' kept images of its train
    split; where domains alternate, each gives as many as the smallest (`run_data.steps_per_epoch`);
    at most `train_limit_batches` batches in all."""
    settings = get_profile(config.profile)
    kept = {d: kept_images(settings, d, split_parts(config.train_split), train_fraction=config.train_fraction,
                           class_fraction=config.class_fraction, cache_dir=cache_dir) for d in config.domains}
    per_domain = min(kept.values())
    if len(kept) > 1:
        kept = dict.fromkeys(kept, per_domain)
    if config.train_limit_batches is not None:
        cap = config.train_limit_batches * config.batch_size // len(kept)
        kept = {d: min(n, cap) for d, n in kept.items()}
    return kept


def training_images(config: TrainConfig, cache_dir: str | os.PathLike | None = None) -> int:
    """Images a run trains on, all epochs (`epoch_images` x epochs)."""
    return sum(epoch_images(config, cache_dir).values()) * config.epochs


@functools.lru_cache(maxsize=None)
def _forward_macs(width: float, adapter: str | None, placement: str) -> tuple[int, int]:
    """(MACs of the convolutions and adapters, of the classifier) of one 8 x 8 image."""
    model = ResNet26.build([(SOURCE, 1000)], width=width, adapter=adapter, placement=placement)
    macs = count_macs(model, torch.zeros(1, 3, 8, 8), domain=SOURCE)
    return macs["total"] - macs["linear"], macs["linear"]


def training_flops_per_image(width: float, crop: int, *, adapter: str | None, placement: str = "all") -> float:
    """FLOPs of one training image: 3 x the forward pass (`sizes.count_macs`, 2 FLOPs a MAC).
    The convolutions' work grows with the crop's area (a side that is a multiple of 8, as
    `run_data.crop_side` has it, halves exactly at each stride), the classifier's does not: so
    one network of each shape is built, whatever the crops."""
    spatial, linear = _forward_macs(width, adapter, placement)
    return 3 * 2 * (spatial * (crop / 8) ** 2 + linear)


def domain_crop(config: TrainConfig, domain: str) -> int:
    """The side a run's images of `domain` train at (`run_data.crop_side`: the whole stored image
    for the centre-crop-only domains), from the profile's stored side."""
    side = get_profile(config.profile).image_size
    if input_spec(domain).center_crop_only:
        return side
    return config.crop if config.crop is not None else side * 8 // 9 // 8 * 8


def estimated_flops(config: TrainConfig, cache_dir: str | os.PathLike | None = None) -> float:
    """A run's training FLOPs: its images of each domain (`epoch_images` x epochs) x
    `training_flops_per_image` at that domain's crop."""
    return config.epochs * sum(
        n * training_flops_per_image(config.width, domain_crop(config, d), adapter=config.adapter,
                                     placement=config.placement)
        for d, n in epoch_images(config, cache_dir).items())
