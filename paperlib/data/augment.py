"""Batched train / test transforms on uint8 tensors, on whatever device the batch lives.

docs/authors_code.md ("ResNet-26"): train RandomCrop(crop) + horizontal flip, test CenterCrop(crop), then
Normalize(mean, std); gtsrb, omniglot and svhn instead use CenterCrop(full size) for train and
test with no flip. Offsets and flips are drawn per sample from a CPU generator (so a seed gives
the same batch on CPU and GPU), then applied with one gather over the flattened pixels, without a loop over samples.
"""

from __future__ import annotations

import torch

from paperlib.data.domains import DomainSpec


def _normalize(x: torch.Tensor, spec: DomainSpec) -> torch.Tensor:
    """uint8 -> float32 (v / 255 - mean) / std, folded into one subtract and one divide."""
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.to(torch.float32).sub_(mean * 255.0).div_(std * 255.0)


def random_crop_flip(images: torch.Tensor, crop: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample RandomCrop(crop) and a horizontal flip with probability 1/2 (uint8 in and out)."""
    b, channels, h, w = images.shape
    top = torch.randint(0, h - crop + 1, (b,), generator=generator)
    left = torch.randint(0, w - crop + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    steps = torch.arange(crop)
    rows = top[:, None] + steps  # B x c
    # a flipped sample reads its columns right to left
    cols = left[:, None] + torch.where(flip[:, None], crop - 1 - steps, steps)  # B x c
    # one gather over the flattened pixels: ~5x faster on the CPU than 4-d advanced indexing
    flat = (rows[:, :, None] * w + cols[:, None, :]).view(b, 1, crop * crop).to(images.device)
    out = torch.gather(images.flatten(2), 2, flat.expand(b, channels, crop * crop))
    return out.view(b, channels, crop, crop)


def center_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    """torchvision's CenterCrop offsets, round((S - crop) / 2), as a view."""
    h, w = images.shape[-2:]
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    return images[..., top:top + crop, left:left + crop]


def augment_batch(images: torch.Tensor, spec: DomainSpec, *, train: bool, crop: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 (B, 3, S, S) on any device -> normalized float32 (B, 3, c, c) on the same device.

    c = crop, or S for centre-crop-only domains (gtsrb, omniglot, svhn: no crop, no flip).
    ``generator`` must be a CPU generator (None: torch's default one); test mode draws nothing.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 (B, 3, S, S), got {images.dtype} {tuple(images.shape)}")
    size = min(images.shape[-2:])
    if spec.center_crop_only:
        out = center_crop(images, size)  # identity for the square cache: CenterCrop(full size)
    elif not 0 < crop <= size:
        raise ValueError(f"crop {crop} does not fit images of size {size}")
    elif train:
        out = random_crop_flip(images, crop, generator)
    else:
        out = center_crop(images, crop)
    return _normalize(out, spec)
