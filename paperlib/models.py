"""ResNet-26 of the Visual Decathlon as a multi-domain network (paper sec. 3.2; docs/authors_code.md).

Shared: the 3x3 convolutions (w). Per domain: every batch norm, the adapters (alpha_t) and the
classifier. The active domain is an argument of `forward` (or `set_domain`), never a global.

    stem   conv3x3 3->32w, BN (no ReLU)                     64x64
    stage1 4 BasicBlocks, 64w,  first stride 2               32x32
    stage2 4 BasicBlocks, 128w, first stride 2               16x16
    stage3 4 BasicBlocks, 256w, first stride 2                8x8
    head   BN, ReLU, global average pool, Linear per domain
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import portable
from .adapters import (
    ADAPTER_MODES,
    AdaptedConv,
    DomainBatchNorm,
    DomainLinear,
    DomainModule,
    LowRankAdapter,
    ParallelAdapter,
    SeriesAdapter,
    UnknownDomainError,
    domain_modules,
    he_normal_,
    model_domains,
    set_domain,
)

PLACEMENTS = ("all", "early", "mid", "late", "half")
METHODS = ("scratch", "finetune", "head", "bn", "series", "parallel", "svd", "lora")  # lora: paperlib.lora (issue 14)


@dataclass(frozen=True)
class ModelConfig:
    """Arguments of `ResNet26`; stored in checkpoints so a model can be rebuilt from them.

    adapter: None (BN-only / finetuning), "series" or "parallel".
    placement: "all" (stem and every conv), "early" / "mid" / "late" (stage 1 / 2 / 3 only),
        "half" (the stem and the second conv of each block, the authors' proj='01'), as Table 1 (sec. 4.1).
    dropout: p of dropout2d before the second parallel adapter of each block (sec. 3.3, 4.1).
    """

    domains: tuple[tuple[str, int], ...]
    width: float = 1.0
    adapter: str | None = None
    placement: str = "all"
    dropout: float = 0.0
    adapter_init: str = "he"

    def __post_init__(self) -> None:
        if self.adapter is not None and self.adapter not in ADAPTER_MODES:
            raise ValueError(f"unknown adapter {self.adapter!r}; choose None or one of {ADAPTER_MODES}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {self.placement!r}; choose one of {PLACEMENTS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        object.__setattr__(self, "domains", tuple((str(n), int(c)) for n, c in self.domains))


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
    he_normal_(conv.weight)
    return conv


class ConvUnit(nn.Module):
    """conv3x3 (+ adapter) + per-domain BN: the unit to which fig. 2 attaches adapters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, domains: Sequence[str],
                 adapter: str | None, dropout: float = 0.0, init: str = "he"):
        super().__init__()
        base = conv3x3(in_channels, out_channels, stride)
        self.conv = base if adapter is None else AdaptedConv(base, domains, mode=adapter, dropout=dropout, init=init)
        self.bn = DomainBatchNorm(out_channels, domains)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def _shortcut(x: torch.Tensor, out_channels: int, stride: int) -> torch.Tensor:
    """Parameter-free shortcut: AvgPool2d(2) then zero channels where the shape changes."""
    if stride != 1:
        x = F.avg_pool2d(x, 2)
    extra = out_channels - x.shape[1]
    if extra > 0:
        x = torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)
    return x


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN (+ shortcut) - ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, domains: Sequence[str], *,
                 adapt: tuple[str | None, str | None], dropout: float, init: str):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride
        self.unit1 = ConvUnit(in_channels, out_channels, stride, domains, adapt[0], init=init)
        # dropout sits on the input of the second conv's parallel adapter only (sec. 4.1)
        drop = dropout if adapt[1] == "parallel" else 0.0
        self.unit2 = ConvUnit(out_channels, out_channels, 1, domains, adapt[1], dropout=drop, init=init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.unit1(x))
        y = self.unit2(y)
        return F.relu(y + _shortcut(x, self.out_channels, self.stride))


class ResNet26(nn.Module):
    """The Decathlon ResNet-26 with per-domain BNs, adapters and heads.

    Args:
        config: a `ModelConfig` (or build with `ResNet26.build(domains, ...)`).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        names = [n for n, _ in config.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate domain names in {names}")
        w = config.width
        widths = [int(64 * w), int(128 * w), int(256 * w)]
        mode, where = config.adapter, config.placement

        def adapt(position: str) -> str | None:
            # position: "stem" or "<stage>.<block>.<1|2>"
            if mode is None or where == "all":
                return mode
            if position == "stem":  # the authors' half (proj='01') keeps the stem's adapter: their stem always has one
                return mode if where == "half" else None
            stage, _, which = position.split(".")
            if where == "half":
                return mode if which == "2" else None
            return mode if {"early": "1", "mid": "2", "late": "3"}[where] == stage else None

        self.stem = ConvUnit(3, int(32 * w), 1, names, adapt("stem"), init=config.adapter_init)
        blocks, in_ch = [], int(32 * w)
        for s, out_ch in enumerate(widths, start=1):
            for b in range(4):
                blocks.append(BasicBlock(in_ch, out_ch, 2 if b == 0 else 1, names,
                                         adapt=(adapt(f"{s}.{b}.1"), adapt(f"{s}.{b}.2")),
                                         dropout=config.dropout, init=config.adapter_init))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head_bn = DomainBatchNorm(in_ch, names)
        self.classifier = DomainLinear(in_ch, config.domains)
        self.num_features = in_ch
        self.adapter_info: dict[str, dict] = {}  # per domain loaded from a file: its header (portable.py)

    @classmethod
    def build(cls, domains: Sequence[tuple[str, int]], **kwargs) -> "ResNet26":
        return cls(ModelConfig(domains=tuple(domains), **kwargs))

    @property
    def domains(self) -> dict[str, int]:
        return {name: head.out_features for name, head in self.classifier.heads.items()}

    def set_domain(self, name: str) -> "ResNet26":
        set_domain(self, name)
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(x.shape)}")
        x = self.stem(x)  # no ReLU after the stem, as in the authors' code
        x = self.blocks(x)
        return F.relu(self.head_bn(x)).mean(dim=(2, 3))  # N x C

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, x: torch.Tensor, domain: str | Sequence[str] | None = None) -> torch.Tensor:
        """Logits of `x` for one domain, or with a list of B names for a mixed batch (one domain
        per image, see `forward_mixed`)."""
        if domain is not None and not isinstance(domain, str):
            return self.forward_mixed(x, domain)
        if domain is not None:
            self.set_domain(domain)
        return self.forward_head(self.forward_features(x))

    def forward_mixed(self, x: torch.Tensor, domains: Sequence[str]) -> torch.Tensor:
        """Image i through domain domains[i], computed batched per domain group; in eval mode each
        row equals the per-image call. Heads differ in size, so the logits (B x widest head) are
        padded with -inf: softmax and argmax read them as the domain's own. The active domain
        is left as it was."""
        names = list(domains)
        if len(names) != x.shape[0]:
            raise ValueError(f"{len(names)} domain names for a batch of {x.shape[0]} images")
        known = self.domains
        for name in dict.fromkeys(names):
            if name not in known:
                raise UnknownDomainError(name, known)
        active = self.classifier.active_domain
        groups = {d: [i for i, n in enumerate(names) if n == d] for d in dict.fromkeys(names)}
        out = x.new_full((x.shape[0], max(known[d] for d in groups)), float("-inf"))  # B x C_max
        for d, rows in groups.items():
            idx = torch.tensor(rows, device=x.device)
            out[idx, :known[d]] = self.forward(x[idx], d).to(out.dtype)
        if active is not None:
            self.set_domain(active)
        return out

    def save_adapter(self, domain: str, path, *, info: Mapping | None = None):
        """Write `domain`'s adapters, BNs and head (only those) as one adapter file (portable.py)."""
        return portable.save_adapter(self, domain, path, info)

    def load_adapter(self, path, *, domain: str | None = None) -> str:
        """Add the domain of an adapter file trained on this very base network; returns its name."""
        return portable.load_adapter(self, path, domain=domain)

    def add_domain(self, name: str, num_classes: int, *, init_from: str | None = None) -> None:
        """Add a domain without touching any existing domain's parameters.

        `init_from` copies that domain's BNs and adapters (the pretrained starting point);
        the new classifier is always fresh.
        """
        if name in self.domains:
            raise ValueError(f"domain {name!r} already exists")
        if init_from is not None and init_from not in self.domains:
            raise UnknownDomainError(init_from, self.domains)
        for _, module in domain_modules(self):
            if isinstance(module, DomainLinear):
                module.add_domain(name, num_classes=num_classes)
            else:
                module.add_domain(name, init_from=init_from)
        self.config = ModelConfig(**{**self.config.__dict__, "domains": self.config.domains + ((name, num_classes),)})


# ---------------------------------------------------------------- which parameters are what


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
        elif isinstance(getattr(module, "lora_A", None), nn.ModuleDict):  # a peft LoRA layer (paperlib.lora):
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
    lora: the domain's LoRA factors (lora_A, lora_B), BNs and head (paperlib.lora.apply_lora first).
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
    }[method]
    roles = parameter_roles(model)
    if method == "lora" and not any(".lora_A." in name for name in roles):  # else it would train BN-only
        raise ValueError("method 'lora' needs LoRA layers: call paperlib.lora.apply_lora(model, rank) first")
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


# ---------------------------------------------------------------- parameter accounting


def count_parameters(model: nn.Module, domains: Sequence[str] | None = None) -> dict[str, int]:
    """Parameters by role, counted from the modules themselves, for a subset of domains
    (shared parameters are counted once). Keys: shared, adapter, basis, norm, head, total."""
    wanted = None if domains is None else set(domains)
    counts = dict.fromkeys(("shared", "adapter", "basis", "norm", "head"), 0)
    roles = parameter_roles(model)
    for name, p in model.named_parameters():
        role, d = roles[name]
        if d is None or wanted is None or d in wanted:
            counts[role] += p.numel()
    counts["total"] = sum(counts.values())
    return counts


def multi_domain_size(model: nn.Module, *, finetuned: bool = False) -> int:
    """Parameters needed to store the model for all its domains.

    With `finetuned`, every domain keeps its own copy of the shared weights (one network per
    domain, Table 1's "Finetuning" row); otherwise they are stored once.
    """
    counts = count_parameters(model)
    shared_copies = len(model_domains(model)) if finetuned else 1
    return counts["total"] + (shared_copies - 1) * counts["shared"]


def round_multiplier(ratio: float) -> float:
    """Table 1 prints sizes at the precision that tells the models apart: nearest half below
    5x, nearest integer from 5x up (9.7 -> 10, 2.16 -> 2, 1.67 -> 1.5)."""
    return float(round(ratio)) if ratio >= 5 else round(ratio * 2) / 2


def size_multiplier(model: nn.Module, reference: nn.Module, *, finetuned: bool = False) -> float:
    """Table 1's "#par": the multi-domain size over the plain network's (unrounded)."""
    return multi_domain_size(model, finetuned=finetuned) / count_parameters(reference)["total"]


def plain_reference(width: float = 1.0, num_classes: int = 1000) -> ResNet26:
    """The vanilla network pretrained on ImageNet, the denominator of Table 1's "#par"."""
    return ResNet26.build([("imagenet12", num_classes)], width=width)


def count_macs(model: nn.Module, x: torch.Tensor, **forward_kwargs) -> dict[str, int]:
    """Multiply-accumulates per image of conv and linear layers, read from the shapes seen by
    forward hooks on one forward pass (eval mode, no grad; the model's mode is restored).

    conv: output elements x (C_in / groups) x kh x kw; linear: output elements x in_features;
    adapters (1x1, run through F.conv2d inside AdaptedConv / SeriesAdapter): output elements
    x C_in / groups, none once fused. FLOPs = 2 x MACs; a training step ~ 3 x forward.
    """
    counts = {"conv": 0, "linear": 0, "adapter": 0}
    per_image = x.shape[0]

    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        n = output.numel() // per_image
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counts["conv"] += n * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            counts["linear"] += n * module.in_features
        elif isinstance(module, AdaptedConv) and module.mode == "parallel" and module.fused_domain is None:
            counts["adapter"] += n * (module.base.in_channels // module.base.groups)
            if module.runs_fused():  # one convolution with f + diag_L(alpha): base's own hook did not run
                kh, kw = module.base.kernel_size
                counts["conv"] += n * (module.base.in_channels // module.base.groups) * kh * kw
        elif isinstance(module, SeriesAdapter):
            counts["adapter"] += n * module.conv.weight.shape[1]

    kinds = (nn.Conv2d, nn.Linear, AdaptedConv, SeriesAdapter)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x, **forward_kwargs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {**counts, "total": sum(counts.values())}


__all__ = [
    "ModelConfig", "ResNet26", "BasicBlock", "ConvUnit", "PLACEMENTS", "METHODS", "parameter_roles",
    "set_trainable", "freeze_norm_statistics", "count_parameters", "multi_domain_size", "round_multiplier", "size_multiplier",
    "plain_reference", "count_macs", "DomainModule", "ParallelAdapter",
]
