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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.model import adapter_files
from paperlib.model.adapters import (
    ADAPTER_MODES,
    AdaptedConv,
    DomainBatchNorm,
    DomainLinear,
    UnknownDomainError,
    domain_modules,
    he_normal_,
    set_domain,
)

PLACEMENTS = ("all", "early", "mid", "late", "half")


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
        self.adapter_info: dict[str, dict] = {}  # per domain loaded from a file: its header (adapter_files.py)

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
        else:  # none was active: none is, so a plain call still asks for one
            for _, module in domain_modules(self):
                module.active_domain = None
        return out

    def save_adapter(self, domain: str, path, *, info: Mapping | None = None):
        """Write `domain`'s adapters, BNs and head (only those) as one adapter file (adapter_files.py)."""
        return adapter_files.save_adapter(self, domain, path, info)

    def load_adapter(self, path, *, domain: str | None = None) -> str:
        """Add the domain of an adapter file trained on this very base network; returns its name."""
        return adapter_files.load_adapter(self, path, domain=domain)

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
        self.train(self.training)  # new BNs are built in training mode: a network in eval mode stays in eval mode
