"""Weight decay per parameter group: the SGD groups of a run's trainable parameters, with the
authors' effective values (config.py's docstring; docs/authors_code.md, "Weight decay in the
authors' code")."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .config import TrainConfig
from .models import parameter_roles


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """The trainable parameters in SGD groups by weight decay: "adapter:<domain>" (the paper's
    per-domain decay), "shared" (3x3 convs: shared_weight_decay or weight_decay) and the BNs and
    heads: "norm_head:<domain>" under the authors' rule (`norm_head_decays`), "other"
    (weight_decay) under norm_head_decay="weight_decay". Each group carries its parameters' names."""
    roles = parameter_roles(model)
    trainable = [(name, p, *roles[name]) for name, p in model.named_parameters() if p.requires_grad]
    shared_decay = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    per_domain = norm_head_decays(config, [(role, d) for _, _, role, d in trainable])
    groups: dict[str, dict] = {}
    for name, p, role, d in trainable:
        if role == "adapter":
            key, decay = f"adapter:{d}", config.adapter_decay(d)
        elif role in ("shared", "basis"):
            key, decay = "shared", shared_decay
        elif config.norm_head_decay == "authors" and d is not None:
            key, decay = f"norm_head:{d}", per_domain[d]
        else:
            key, decay = "other", config.weight_decay
        group = groups.setdefault(key, {"params": [], "names": [], "weight_decay": decay, "group": key})
        group["params"].append(p)
        group["names"].append(name)
    if not groups:
        raise ValueError(f"method {config.method!r} leaves nothing to train in this model")
    return list(groups.values())


def norm_head_decays(config: TrainConfig, trainable: Sequence[tuple[str, str | None]]) -> dict[str, float]:
    """domain -> the decay of its BNs and head under the authors' rule: their SGD gives each of
    them the decay of the last 4-d tensor trained before it (docs/authors_code.md, "Weight decay
    in the authors' code"): the 3x3 decay when the 3x3 convolutions train (scratch, finetune),
    else the domain's adapter decay when its adapters train (series, parallel, svd, lora), else
    `weight_decay` (their --wd: bn). `trainable`: (role, domain) of every trainable parameter."""
    shared = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    roles = {role for role, _ in trainable}
    decays = {}
    for d in {d for _, d in trainable if d is not None}:
        if "shared" in roles:
            decays[d] = shared
        elif ("adapter", d) in trainable:
            decays[d] = config.adapter_decay(d)
        else:
            decays[d] = config.weight_decay
    return decays


__all__ = ["param_groups", "norm_head_decays"]
