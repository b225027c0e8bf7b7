"""Which parameter is what (the shared w, a domain's adapters, BNs and head, the SVD's shared
basis), and what each training method of sec. 4 trains of them (`set_trainable`)."""

from __future__ import annotations

from torch import nn

from paperlib.model.adapters import (
    AdaptedConv,
    DomainBatchNorm,
    DomainLinear,
    LowRankAdapter,
    SeriesAdapter,
    UnknownDomainError,
    model_domains,
)

# lora: paperlib.model.lora; parallel_distilled: parallel adapters trained with a teacher (train.distill)
METHODS = ("scratch", "finetune", "head", "bn", "series", "parallel", "svd", "lora", "parallel_distilled")


def parameter_roles(model: nn.Module) -> dict[str, tuple[str, str | None]]:
    """name -> (role, domain) for every parameter; role is one of
    "shared" (the universal w: 3x3 convs), "adapter" (alpha, gamma), "basis" (beta, shared by
    domains after joint SVD), "norm" (BN, incl. a series adapter's BN1) and "head"."""
    roles: dict[str, tuple[str, str | None]] = {}

    def tag(prefix: str, module: nn.Module, role: str, domain: str | None) -> None:
        for pname, _ in module.named_parameters():
            roles[f"{prefix}.{pname}" if prefix else pname] = (role, domain)

    for mname, module in model.named_modules():
        if isinstance(module, AdaptedConv):
            for d, adapter in module.adapters.items():
                if isinstance(adapter, SeriesAdapter):
                    tag(f"{mname}.adapters.{d}.norm", adapter.norm, "norm", d)
                    tag(f"{mname}.adapters.{d}.conv", adapter.conv, "adapter", d)
                elif isinstance(adapter, LowRankAdapter):
                    roles[f"{mname}.adapters.{d}.gamma"] = ("adapter", d)
                    if adapter.beta is not None:
                        roles[f"{mname}.adapters.{d}.beta"] = ("adapter", d)
                else:
                    tag(f"{mname}.adapters.{d}", adapter, "adapter", d)
            if module.basis is not None:
                roles[f"{mname}.basis"] = ("basis", None)
        elif isinstance(module, DomainBatchNorm):
            for d, bn in module.norms.items():
                tag(f"{mname}.norms.{d}", bn, "norm", d)
        elif isinstance(module, DomainLinear):
            for d, head in module.heads.items():
                tag(f"{mname}.heads.{d}", head, "head", d)
        elif isinstance(getattr(module, "lora_A", None), nn.ModuleDict):  # a peft LoRA layer (paperlib.model.lora):
            for part in ("lora_A", "lora_B"):  # its adapters are keyed by domain
                for d, sub in getattr(module, part).items():
                    tag(f"{mname}.{part}.{d}", sub, "adapter", d)
    for name, _ in model.named_parameters():
        roles.setdefault(name, ("shared", None))  # whatever is not domain-specific is the universal w
    return roles


def set_trainable(model: nn.Module, method: str, domain: str) -> list[str]:
    """Set requires_grad for training `domain` with `method`; returns the trainable names.

    scratch, finetune: the shared weights and the domain's own parameters (sec. 4.1 "Finetuning").
    head: the domain's head only: the network is a frozen feature extractor (its BNs keep the
        source's statistics too: see `freeze_norm_statistics`), Table 1's "Feature extractor".
    bn: the domain's BNs and head only (the universal-feature baseline of [3]).
    series, parallel: the domain's adapters, BNs and head; the 3x3 convs are frozen (sec. 4.1).
    svd: the domain's gamma_t, BNs and head; beta and the 3x3 convs are frozen (sec. 3.4).
    lora: the domain's LoRA factors (lora_A, lora_B), BNs and head (paperlib.model.lora.apply_lora first).
    parallel_distilled: what parallel trains (its loss differs: train.distill).
    Other domains' parameters are always frozen, so they cannot drift.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    known = model_domains(model)
    if domain not in known:
        raise UnknownDomainError(domain, known)
    trainable_roles = {
        "scratch": {"shared", "adapter", "norm", "head"},
        "finetune": {"shared", "adapter", "norm", "head"},
        "head": {"head"},
        "bn": {"norm", "head"},
        "series": {"adapter", "norm", "head"},
        "parallel": {"adapter", "norm", "head"},
        "svd": {"adapter", "norm", "head"},
        "lora": {"adapter", "norm", "head"},
        "parallel_distilled": {"adapter", "norm", "head"},
    }[method]
    roles = parameter_roles(model)
    if method == "lora" and not any(".lora_A." in name for name in roles):  # else it would train BN-only
        raise ValueError("method 'lora' needs LoRA layers: call paperlib.model.lora.apply_lora(model, rank) first")
    names = []
    for name, p in model.named_parameters():
        role, d = roles[name]
        p.requires_grad_(role in trainable_roles and d in (None, domain))
        if p.requires_grad:
            names.append(name)
    return names


def freeze_norm_statistics(model: nn.Module) -> None:
    """Put every batch norm in eval mode (call after `model.train()`): a frozen feature extractor
    (method "head") normalises with the source's running statistics and never updates them, so
    the features the head sees are exactly the pretrained network's."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
