"""How hard each MiniDecathlon target is on its own: a small CNN trained from scratch on the
domain's train split and scored on its labelled test split (data/README.md, "From scratch").

This is a property of the data, not of the paper's method: the data sheet shows it so that a
reader sees that no target is trivial (near 100%) or hopeless (near chance). Notebook 00 measures
it on the series' own prepared cache at the mini profile and writes the sheet's block; the result
is kept beside the cache (`scratch_baseline.json`), since it depends only on the generated tree
and the settings below, so a second `make reproduce` reads it instead of training again.

The network and schedule (fixed before any number was seen, for every domain alike): four 3x3
conv layers of 32, 64, 128 and 256 channels with BN and ReLU, max-pooling after the first three,
global average pooling, a linear head; SGD with Nesterov momentum 0.9, weight decay 5e-4, a
one-cycle learning rate peaking at 0.1, batch 64, `augment_batch(train=True, crop=32)`, max(10
epochs, 300 steps). ImageNet's stand-in is left out: notebook 01's validation curve measures it.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.core.files import read_json, write_json
from paperlib.data.augment import augment_batch
from paperlib.data.cache import load_split
from paperlib.data.domains import DOMAINS, domain_spec

TARGETS = tuple(d for d in DOMAINS if d != "imagenet12")


@dataclass(frozen=True)
class BaselineSettings:
    """The from-scratch baseline's schedule (module docstring). `max_steps` caps a training for
    the smoke profile's CI run; None at mini."""

    crop: int = 32
    batch: int = 64
    min_epochs: int = 10
    min_steps: int = 300
    peak_lr: float = 0.1
    weight_decay: float = 5e-4
    seed: int = 0
    max_steps: int | None = None


def small_cnn(num_classes: int) -> nn.Sequential:
    """Four conv-BN-ReLU layers (32, 64, 128, 256 channels), max-pooling after the first three."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(((3, 32), (32, 64), (64, 128), (128, 256))):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        if i < 3:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, num_classes))


def scratch_accuracy(cache_dir: str | Path, domain: str, settings: BaselineSettings = BaselineSettings()) -> float:
    """Test top-1 (%) of `small_cnn` trained from scratch on `domain`'s train split."""
    torch.manual_seed(settings.seed)
    spec = domain_spec(domain)
    train, test = load_split(cache_dir, domain, "train"), load_split(cache_dir, domain, "test")
    if (test.labels < 0).any():
        raise ValueError(f"{domain}: the test split of {cache_dir} has no labels; the baseline needs them")
    model = small_cnn(train.num_classes)
    steps_per_epoch = math.ceil(len(train) / settings.batch)
    epochs = max(settings.min_epochs, math.ceil(settings.min_steps / steps_per_epoch))
    total = epochs * steps_per_epoch if settings.max_steps is None else min(settings.max_steps, epochs * steps_per_epoch)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.peak_lr / 2, momentum=0.9,
                                weight_decay=settings.weight_decay, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.peak_lr, total_steps=total, pct_start=0.15)
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    step = 0
    while step < total:
        order = torch.randperm(len(train), generator=generator)
        for s in range(steps_per_epoch):
            if step == total:
                break
            idx = order[s * settings.batch:(s + 1) * settings.batch]
            x = augment_batch(train.images[idx], spec, train=True, crop=settings.crop, generator=generator)
            loss = F.cross_entropy(model(x), train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
    model.eval()
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(test), 256):
            x = augment_batch(test.images[s:s + 256], spec, train=False, crop=settings.crop)
            correct += int((model(x).argmax(1) == test.labels[s:s + 256]).sum())
    return 100.0 * correct / len(test)


def scratch_baselines(cache_dir: str | Path, *, domains=TARGETS, settings: BaselineSettings = BaselineSettings(),
                      workers: int = 1, progress=print) -> dict[str, float]:
    """domain -> from-scratch test accuracy (%), read from `<cache_dir>/scratch_baseline.json`
    when it holds these settings, else trained and written there (atomically, a domain at a
    time: an interruption keeps the others). `workers` > 1 trains that many domains side by side
    in forked processes of one torch thread each (as the series' trainings, `series.workers`)."""
    path = Path(cache_dir) / "scratch_baseline.json"
    stored = read_json(path) if path.is_file() else {}
    if stored.get("settings") != asdict(settings):
        stored = {"settings": asdict(settings), "accuracy": {}}
    missing = [d for d in domains if d not in stored["accuracy"]]

    def keep(domain: str, accuracy: float) -> None:
        stored["accuracy"][domain] = round(accuracy, 2)
        write_json(path, stored, sort_keys=True)
        if progress:
            progress(f"{domain}: {accuracy:.1f}% from scratch")

    if workers > 1 and len(missing) > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context, initializer=_one_thread) as pool:
            futures = {pool.submit(scratch_accuracy, cache_dir, d, settings): d for d in missing}
            for future in as_completed(futures):
                keep(futures[future], future.result())
    else:
        for domain in missing:
            keep(domain, scratch_accuracy(cache_dir, domain, settings))
    return {d: stored["accuracy"][d] for d in domains}


def _one_thread() -> None:
    torch.set_num_threads(1)


def baseline_markdown(accuracy: dict[str, float], classes: dict[str, int]) -> str:
    """The data sheet's block: per target, chance and the from-scratch test accuracy."""
    lines = ["| domain | classes | chance | from scratch (test top-1) |", "|---|--:|--:|--:|"]
    for d, acc in accuracy.items():
        lines.append(f"| {d} | {classes[d]} | {100 / classes[d]:.1f}% | {acc:.1f}% |")
    return "\n".join(lines)


__all__ = ["BaselineSettings", "TARGETS", "baseline_markdown", "scratch_accuracy", "scratch_baselines", "small_cnn"]
