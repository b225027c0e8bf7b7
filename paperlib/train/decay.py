"""Weight decay per parameter group: the SGD groups of a run's trainable parameters, with the
authors' effective values (spec.py's docstring; docs/authors_code.md, "Weight decay in the
authors' code")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from paperlib.model.roles import parameter_roles
from paperlib.train.spec import TrainConfig


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """The trainable parameters in SGD groups by weight decay: "adapter:<domain>" (the paper's
    per-domain decay), "shared" (3x3 convs: shared_weight_decay or weight_decay) and the BNs and
    heads: "norm_head:<domain>" under the authors' rule (`norm_head_decays`; a BN the rule sets
    apart from its domain's head, the series stem BN1, gets "norm_head:<domain>:<decay>"), "other"
    (weight_decay) under norm_head_decay="weight_decay". Each group carries its parameters' names."""
    roles = parameter_roles(model)
    trainable = [(name, p, *roles[name]) for name, p in model.named_parameters() if p.requires_grad]
    shared_decay = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    authors = norm_head_decays(config, trainable)
    domain_decay = {roles[name][1]: decay for name, decay in authors.items()}  # the last: its head's
    groups: dict[str, dict] = {}
    for name, p, role, d in trainable:
        if role == "adapter":
            key, decay = f"adapter:{d}", config.adapter_decay(d)
        elif role in ("shared", "basis"):
            key, decay = "shared", shared_decay
        elif config.norm_head_decay == "authors" and d is not None:
            decay = authors[name]
            key = f"norm_head:{d}" if decay == domain_decay[d] else f"norm_head:{d}:{decay:g}"
        else:
            key, decay = "other", config.weight_decay
        group = groups.setdefault(key, {"params": [], "names": [], "weight_decay": decay, "group": key})
        group["params"].append(p)
        group["names"].append(name)
    if not groups:
        raise ValueError(f"method {config.method!r} leaves nothing to train in this model")
    return list(groups.values())


def norm_head_decays(config: TrainConfig,
                     trainable: Sequence[tuple[str, torch.Tensor, str, str | None]]) -> dict[str, float]:
    """name -> the decay of each trainable BN and head parameter under the authors' rule: their SGD
    gives it the decay of the last 4-d tensor trained before it in the parameter order
    (docs/authors_code.md, "Weight decay in the authors' code"), counting the shared 3x3 kernels
    and the parameter's own domain's adapter tensors (one domain trains per run there; the SVD's
    gamma_t and LoRA's factors count as adapters); with none before it, `weight_decay` (their
    --wd). So: the 3x3 decay when the 3x3 convolutions train (scratch, finetune; the stem's
    kernel comes first), the domain's adapter decay in adapter runs (series, parallel, svd, lora),
    `weight_decay` when only BNs and heads train, and `weight_decay` for a series network's
    stem-adapter BN, which comes before any 1x1 kernel.
    Early, mid and late placements are not in the authors' code: there a BN before the domain's
    first adapter takes the domain's adapter decay, like every other, not the `weight_decay` a
    literal walk would give the stages before the first adapted one.
    `trainable`: (name, parameter, role, domain) in the model's parameter order."""
    shared = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    adapted = {d for _, _, role, d in trainable if role == "adapter"}
    authors_placement = config.placement in ("all", "half")
    last_shared: tuple[int, float] | None = None  # (position, decay) of the last 4-d tensor seen
    last_adapter: dict[str, tuple[int, float]] = {}
    out = {}
    for i, (name, p, role, d) in enumerate(trainable):
        if p.dim() == 4 and role in ("shared", "basis"):
            last_shared = (i, shared)
        elif role == "adapter":  # 1x1 kernels; SVD's gamma_t and LoRA's factors play their part
            last_adapter[d] = (i, config.adapter_decay(d))
        elif role not in ("shared", "basis") and d is not None:
            before = [x for x in (last_shared, last_adapter.get(d)) if x is not None]
            if before:
                out[name] = max(before)[1]
            elif d in adapted and not authors_placement:
                out[name] = config.adapter_decay(d)
            else:
                out[name] = config.weight_decay
    return out


__all__ = ["param_groups", "norm_head_decays"]
