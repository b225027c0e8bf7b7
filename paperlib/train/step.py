"""One training step, as the engine and the bench run it: a batch indexed, moved and augmented on
the device (`make_batch`), then forward, cross-entropy, backward and the SGD step (`train_step`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.data import DomainSpec, augment_batch
from paperlib.model.resnet import ResNet26
from paperlib.train.distill import distillation_loss
from paperlib.train.run_data import input_spec


def make_batch(images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, domain: str, *, crop: int,
               device: torch.device, generator: torch.Generator,
               spec: DomainSpec | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: index the uint8 set (wherever it lives), move, augment on the device
    (normalised by `spec`, default `run_data.input_spec(domain)`)."""
    idx = idx.to(images.device)
    x = augment_batch(images[idx].to(device, non_blocking=True), spec or input_spec(domain), train=True, crop=crop,
                      generator=generator)  # B x 3 x crop x crop
    return x, labels[idx].to(device, non_blocking=True)


def train_step(model: ResNet26, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, domain: str, *,
               net: nn.Module | None = None, autocast: bool = False, channels_last: bool = True,
               teacher: nn.Module | None = None, distill: tuple[float | None, float | None] = (None, None)
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on `domain`: set the domain, forward through `net` (the model, or
    its DDP / compiled wrapper) under bf16 autocast if `autocast` (the spec's
    `TrainConfig.autocast(device)`), cross-entropy on float logits, backward, SGD step (the
    weights stay float32). With a `teacher` (method parallel_distilled), the loss is
    `distill.distillation_loss` at `distill` = (weight, temperature), the teacher's logits computed
    without gradients. Returns the (detached) loss and logits, left on the device."""
    if channels_last and x.device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    model.set_domain(domain)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = (model if net is None else net)(x)  # B x classes
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(x)
    if teacher is None:
        loss = F.cross_entropy(logits.float(), y)
    else:
        loss = distillation_loss(logits, y, teacher_logits, weight=distill[0], temperature=distill[1])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()
