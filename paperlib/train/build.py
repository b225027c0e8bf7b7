"""The network a run trains, built from its spec: ResNet-26 for its domains, seeded, initialised
from its upstream networks (new domains start from the source domain's BNs, sec. 4.1), jointly
SVD-compressed for method svd (sec. 3.4) or with LoRA for method lora, with what its method
trains marked trainable."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from paperlib.model.resnet import ModelConfig, ResNet26
from paperlib.model.roles import set_trainable
from paperlib.model.weights import add_structure, init_from_pretrained, load_model
from paperlib.train.distill import frozen_teacher
from paperlib.train.distributed import AllReduceBatchNorm2d, Group, swap_batchnorm
from paperlib.train.run_data import RunData
from paperlib.train.spec import TrainConfig


def weight_files(config: TrainConfig, pretrained: Sequence[str | os.PathLike] | None) -> list:
    if pretrained is not None:
        if len(pretrained) != len(config.pretrained):
            raise ValueError(f"{len(pretrained)} weight files for {len(config.pretrained)} pretrained entries")
        return list(pretrained)
    if config.upstream:
        raise ValueError("config.pretrained names upstream runs: give their weight files (pretrained=...), "
                         "as train.run_or_load does from the results store")
    return list(config.pretrained)


def trainable_model(config: TrainConfig, data: RunData, device: torch.device, group: Group,
                     weight_files: Sequence, *, channels_last: bool) -> ResNet26:
    """The model built from the pretrained weights, with what `config.method` trains marked, on the
    device, its weights channels-last if asked (on the CPU, x may stay NCHW: oneDNN follows them)."""
    sources = [load_model(p) for p in weight_files[:1 if config.method == "parallel_distilled" else None]]
    model = build_model(config, data.num_classes, sources=sources)
    trainable = set()
    for d in config.domains:
        trainable |= set(set_trainable(model, config.method, d))
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if group.world > 1 and config.sync_bn:
        swap_batchnorm(model, nn.SyncBatchNorm if device.type == "cuda" else AllReduceBatchNorm2d)
    return model


def teacher_model(config: TrainConfig, weight_files: Sequence, device: torch.device, *,
                  channels_last: bool) -> ResNet26 | None:
    """Method parallel_distilled's teacher (the second pretrained network: the domain's finetuned
    one), frozen, in eval mode, on the device; None for every other method."""
    if config.method != "parallel_distilled":
        return None
    return frozen_teacher(load_model(weight_files[1]), config.domains[0], device, channels_last=channels_last)


def build_model(config: TrainConfig, num_classes: Mapping[str, int], *,
                sources: Sequence[ResNet26] | None = None) -> ResNet26:
    """ResNet-26 for `config.domains`, seeded, initialised from the pretrained `sources` (default:
    loaded from `config.pretrained`'s files, the source network alone for method
    parallel_distilled, whose second is its teacher), jointly SVD-compressed for method svd. The
    svd_domains that are not trained come along (frozen) with their heads from the pretrained
    networks: their adapters shape the shared basis."""
    if sources is None:
        sources = [load_model(p) for p in weight_files(config, None)[:1 if config.method == "parallel_distilled" else None]]
    sources = list(sources)
    sizes = {d: int(num_classes[d]) for d in config.domains}
    for d in config.svd_domains:
        if d not in sizes:
            source = next((s for s in sources if d in s.domains), None)
            if source is None:
                raise ValueError(f"svd domain {d!r} is in none of the pretrained networks {list(config.pretrained)}")
            sizes[d] = source.domains[d]
    torch.manual_seed(config.seed)
    model = ResNet26(ModelConfig(domains=tuple(sizes.items()), width=config.width, adapter=config.adapter,
                                 placement=config.placement, dropout=config.dropout,
                                 adapter_init=config.adapter_init))
    if sources:
        init_from_pretrained(model, sources, source_domain=config.source_domain)
    svd = (config.svd_domains or config.domains, config.svd_k) if config.method == "svd" else None
    return add_structure(model, svd=svd, lora_rank=config.lora_rank if config.method == "lora" else None)
