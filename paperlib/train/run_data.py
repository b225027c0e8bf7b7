"""The images one run trains and evaluates on: seeded subsets of the classes (fig. 4b) and of
the images (sec. 4.3), and the crop side the network sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from paperlib.data import DOMAINS, DomainSpec, DomainSplit, domain_spec
from paperlib.train.spec import TrainConfig


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded, class-stratified subset: round(fraction * n_c) images of each
    class c (at least one), chosen at random. fraction 1 gives every index."""
    n = labels.shape[0]
    if fraction >= 1.0:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed * 7919 + 104_729)
    perm = torch.randperm(n, generator=gen)
    lab = labels[perm]
    order = torch.sort(lab, stable=True).indices  # shuffled within each class
    lab_sorted = lab[order]
    _, counts = torch.unique_consecutive(lab_sorted, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_class = torch.arange(n) - torch.repeat_interleave(starts, counts)
    keep = torch.clamp(torch.round(counts.double() * fraction).long(), min=1)
    chosen = rank_in_class < torch.repeat_interleave(keep, counts)
    return torch.sort(perm[order][chosen]).values


def class_subset(num_classes: int, fraction: float, seed: int) -> torch.Tensor | None:
    """Sorted ids of a seeded random subset of round(fraction * num_classes) classes (at least
    one); None for fraction 1 (every class)."""
    if fraction >= 1.0:
        return None
    gen = torch.Generator().manual_seed(seed * 6007 + 31_337)
    keep = max(1, int(round(fraction * num_classes)))
    return torch.sort(torch.randperm(num_classes, generator=gen)[:keep]).values


def train_indices(labels: torch.Tensor, classes: torch.Tensor | None, fraction: float, seed: int) -> torch.Tensor:
    """Indices of the training images used: those of `classes`, then a stratified `fraction`."""
    pool = torch.arange(labels.shape[0]) if classes is None else torch.nonzero(torch.isin(labels, classes)).flatten()
    return pool[stratified_subset(labels[pool], fraction, seed)]


def restrict_classes(split: DomainSplit, classes: torch.Tensor | None) -> DomainSplit:
    """The images of `classes` only (an unlabelled split is kept whole: it cannot be filtered)."""
    if classes is None or bool((split.labels < 0).any()):
        return split
    keep = torch.isin(split.labels, classes)
    return DomainSplit(split.domain, split.split, split.images[keep], split.labels[keep], split.image_ids[keep],
                       split.num_classes)


def input_spec(domain: str, source_domain: str = "imagenet12") -> DomainSpec:
    """How a domain's images are normalised and cropped: a Decathlon domain's own spec; a domain of
    the user's own (`paperlib adapt`) is normalised as the source network's images were, with
    random crop and flip (the adapter file records these values)."""
    if domain in DOMAINS:
        return domain_spec(domain)
    return replace(domain_spec(source_domain), name=domain, index=0, center_crop_only=False)


def steps_per_epoch(config: TrainConfig, sizes: Sequence[int]) -> int:
    """SGD steps of one epoch: domains alternate, one batch each, until the smallest training set
    (`sizes`, images per domain) runs out; at most `train_limit_batches` (dry runs)."""
    steps = len(config.domains) * min(max(1, n // config.batch_size) for n in sizes)
    return steps if config.train_limit_batches is None else min(steps, config.train_limit_batches)


def crop_side(config: TrainConfig, split: DomainSplit) -> int:
    """The crop side: config.crop, or 8/9 of the stored side rounded down to a multiple of 8
    (64 of 72, as the authors). Centre-crop-only domains (gtsrb, omniglot, svhn) use the whole
    image whatever the crop; either way the side must be a multiple of 8, because ResNet-26
    halves it three times and its parameter-free shortcut (AvgPool2d(2)) rounds odd sides down
    where the strided 3x3 convolution rounds them up."""
    side = int(split.images.shape[-1])
    crop = config.crop if config.crop is not None else side * 8 // 9 // 8 * 8
    used = side if input_spec(split.domain).center_crop_only else crop
    if not 0 < crop <= side or used % 8:
        raise ValueError(f"{split.domain}: the network input would be {used} pixels (images {side}, crop {crop}); "
                         "it must be a positive multiple of 8 no larger than the images")
    return crop


def maybe_to_device(images: torch.Tensor, device: torch.device, limit_bytes: int = 4 << 30) -> torch.Tensor:
    """The whole uint8 set on the GPU when it is small enough (saves one copy per batch)."""
    if device.type == "cuda" and images.numel() <= limit_bytes:
        return images.to(device)
    return images


@dataclass
class RunData:
    """The training sets (kept images' indices, images and labels, possibly on the device) and the
    evaluation splits of one run, restricted to its classes."""

    train_sets: dict[str, DomainSplit]
    eval_sets: dict[tuple[str, str], DomainSplit]
    subsets: dict[str, torch.Tensor]  # indices of the images trained on, per domain
    images: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    crops: dict[str, int]

    @property
    def num_classes(self) -> dict[str, int]:
        return {d: s.num_classes for d, s in self.train_sets.items()}


def load_run_data(config: TrainConfig, loader, device: torch.device) -> RunData:
    """Every split `config` reads, through `loader(domain, split)`, with its seeded subsets."""
    train_sets = {d: loader(d, config.train_split) for d in config.domains}
    classes = {d: class_subset(s.num_classes, config.class_fraction, config.subset_seed) for d, s in train_sets.items()}
    eval_sets = {(d, s): restrict_classes(loader(d, s), classes[d]) for d in config.domains for s in config.eval_splits}
    subsets = {d: train_indices(s.labels, classes[d], config.train_fraction, config.subset_seed)
               for d, s in train_sets.items()}
    for d, split in train_sets.items():
        if len(subsets[d]) == 0 or bool((split.labels[subsets[d]] < 0).any()):
            raise ValueError(f"train split {config.train_split!r} of {d!r} is empty or has unlabelled images")
    images = {d: maybe_to_device(s.images, device) for d, s in train_sets.items()}
    labels = {d: s.labels.to(images[d].device) for d, s in train_sets.items()}
    crops = {d: crop_side(config, s) for d, s in train_sets.items()}
    return RunData(train_sets, eval_sets, subsets, images, labels, crops)


__all__ = ["stratified_subset", "class_subset", "train_indices", "restrict_classes", "crop_side", "RunData",
           "load_run_data"]
