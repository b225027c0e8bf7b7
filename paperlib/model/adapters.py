"""Residual adapters (paper section 3.1) and the per-domain layers that carry them.

An adapter wraps the convolution it adapts (`AdaptedConv`), keyed by domain name, as
PEFT's LoRA layers do. The active domain is per-instance state set by one walker,
`set_domain(model, name)`, never a global.

- Series adapter (sec. 3.1.1):   z = rho(f * x; alpha) = y + diag_1(alpha) * BN1(y),  y = f * x
- Parallel adapter (sec. 3.1.2): y = f * x + diag_1(alpha) * x = (f + diag_L(alpha)) * x

`delta_weight` (diag_L(alpha)) is shared by `fuse_adapters` and `unfuse_adapters`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.model.fused import fused_parallel_conv

ADAPTER_MODES = ("series", "parallel")


class UnknownDomainError(KeyError):
    """A domain name the model was not built for."""

    def __init__(self, name: str, known: Iterable[str]):
        known = sorted(known)
        super().__init__(f"unknown domain {name!r}; this model knows: {', '.join(known) or '(none)'}")
        self.name, self.known = name, known

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def he_normal_(weight: torch.Tensor) -> torch.Tensor:
    """He init as in the authors' code: std = sqrt(2 / (k * k * out_channels))."""
    out_channels, _, kh, kw = weight.shape
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / (kh * kw * out_channels)))


def diag_embed(alpha: torch.Tensor, kernel_size: tuple[int, int]) -> torch.Tensor:
    """The diag_L operator of sec. 3.1.1: a 1x1 filter bank embedded at the centre of an L x L one.

    alpha: (C_out, C_in, 1, 1) -> (C_out, C_in, kh, kw), zeros everywhere but the centre tap.
    """
    kh, kw = kernel_size
    return F.pad(alpha, (kw // 2, kw // 2, kh // 2, kh // 2))


class DomainModule(nn.Module):
    """A module with one set of parameters per domain; `active_domain` picks which one runs."""

    def __init__(self) -> None:
        super().__init__()
        self.active_domain: str | None = None

    def domain_names(self) -> list[str]:
        raise NotImplementedError

    def add_domain(self, name: str, *, init_from: str | None = None) -> None:
        raise NotImplementedError

    def _active(self) -> str:
        if self.active_domain is None:
            raise RuntimeError(
                f"no active domain on {type(self).__name__}; call set_domain(model, name) or model(x, domain=name)"
            )
        return self.active_domain


class DomainBatchNorm(DomainModule):
    """One BatchNorm2d per domain (every BN of the authors' ResNet-26 is domain-specific)."""

    def __init__(self, num_features: int, domains: Sequence[str] = ()):
        super().__init__()
        self.num_features = num_features
        self.norms = nn.ModuleDict()
        for name in domains:
            self.add_domain(name)

    def domain_names(self) -> list[str]:
        return list(self.norms.keys())

    def add_domain(self, name: str, *, init_from: str | None = None) -> None:
        self.norms[name] = copy.deepcopy(self.norms[init_from]) if init_from else nn.BatchNorm2d(self.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norms[self._active()](x)


class DomainLinear(DomainModule):
    """One classifier per domain, each with its own number of classes."""

    def __init__(self, in_features: int, domains: Sequence[tuple[str, int]] = ()):
        super().__init__()
        self.in_features = in_features
        self.heads = nn.ModuleDict()
        for name, num_classes in domains:
            self.add_domain(name, num_classes=num_classes)

    def domain_names(self) -> list[str]:
        return list(self.heads.keys())

    def add_domain(self, name: str, *, num_classes: int = 0, init_from: str | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"domain {name!r} needs num_classes >= 1, got {num_classes}")
        self.heads[name] = nn.Linear(self.in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads[self._active()](x)


class ParallelAdapter(nn.Module):
    """alpha in R^{C_out x C_in} of a parallel adapter (sec. 3.1.2), stored as a 1x1 kernel."""

    def __init__(self, out_channels: int, in_channels: int, *, init: str = "he"):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        if init == "he":
            he_normal_(self.weight)
        elif init == "zeros":
            nn.init.zeros_(self.weight)
        else:
            raise ValueError(f"unknown adapter init {init!r}; choose 'he' or 'zeros'")

    def alpha(self, basis: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight


class LowRankAdapter(nn.Module):
    """alpha = beta gamma^T (sec. 3.4, eq. 1); beta is either this adapter's own (single-domain
    low-rank variant) or the basis shared by all domains of the layer (joint SVD)."""

    def __init__(self, gamma: torch.Tensor, beta: torch.Tensor | None = None):
        super().__init__()
        self.gamma = nn.Parameter(gamma.clone())  # C_in x K
        self.beta = None if beta is None else nn.Parameter(beta.clone())  # C_out x K

    def alpha(self, basis: torch.Tensor | None = None) -> torch.Tensor:
        beta = self.beta if self.beta is not None else basis
        if beta is None:
            raise RuntimeError("a jointly compressed adapter needs its layer's shared basis")
        return (beta @ self.gamma.T)[:, :, None, None]


class SeriesAdapter(nn.Module):
    """z = y + alpha * BN1(y) (sec. 3.1.1, fig. 2a); identity when alpha = 0."""

    def __init__(self, channels: int, *, init: str = "he"):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = ParallelAdapter(channels, channels, init=init)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + F.conv2d(self.norm(y), self.conv.weight)


def _adapter_geometry(conv: nn.Conv2d, name: str) -> tuple[int, int]:
    """Offsets (top, left) of the kernel centre relative to the padded origin; refuses what
    a 1x1 parallel branch cannot express exactly."""
    kh, kw = conv.kernel_size
    if kh % 2 == 0 or kw % 2 == 0 or kh != kw:
        raise ValueError(f"cannot adapt {name or 'conv'}: kernel {conv.kernel_size} is not odd and square")
    if conv.padding_mode != "zeros":
        raise ValueError(f"cannot adapt {name or 'conv'}: padding_mode {conv.padding_mode!r} (only 'zeros')")
    if isinstance(conv.padding, str):
        pads = (0, 0) if conv.padding == "valid" else (conv.dilation[0] * (kh // 2), conv.dilation[1] * (kw // 2))
    else:
        pads = conv.padding
    # The output pixel i reads the kernel centre at input  stride*i - pad + dilation*(k//2).
    return conv.dilation[0] * (kh // 2) - pads[0], conv.dilation[1] * (kw // 2) - pads[1]


class AdaptedConv(DomainModule):
    """A shared convolution with one adapter per domain (series or parallel).

    Args:
        base: the convolution whose weights (f) are shared by every domain.
        domains: domain names to create adapters for.
        mode: "parallel" or "series".
        dropout: p of dropout2d on the parallel adapter's input (sec. 3.3); it perturbs only the
            adapter branch, i.e. additive noise on the filters' output, as the paper describes.
        init: "he" (the authors' code) or "zeros" (start exactly at the pretrained network).

    `fused_training` (default on; `set_fused_training` switches it per model): a parallel adapter
    runs as one convolution with f + diag_L(alpha) and the gradients of `paperlib.fused`, which
    skips the 3x3 weight gradient of frozen filters; except with dropout in training, where the
    two branches read different inputs and the two-branch forward runs.
    """

    def __init__(self, base: nn.Conv2d, domains: Sequence[str] = (), *, mode: str = "parallel",
                 dropout: float = 0.0, init: str = "he", name: str = ""):
        super().__init__()
        if mode not in ADAPTER_MODES:
            raise ValueError(f"unknown adapter mode {mode!r}; choose one of {ADAPTER_MODES}")
        if base.groups != 1 and mode == "series":
            raise ValueError(f"cannot add a series adapter to grouped conv {name or 'conv'} (groups={base.groups})")
        self.base, self.mode, self.dropout, self.init = base, mode, dropout, init
        self.offset = _adapter_geometry(base, name) if mode == "parallel" else (0, 0)
        self.adapters = nn.ModuleDict()
        self.basis: nn.Parameter | None = None  # beta shared by all domains after joint SVD
        self.fused_domain: str | None = None
        self.fused_training = True
        for d in domains:
            self.add_domain(d)

    def domain_names(self) -> list[str]:
        return list(self.adapters.keys())

    def add_domain(self, name: str, *, init_from: str | None = None) -> None:
        if init_from is not None:
            self.adapters[name] = copy.deepcopy(self.adapters[init_from])
        elif self.basis is not None:  # jointly compressed layer: a new gamma against the shared beta
            self.adapters[name] = LowRankAdapter(self.basis.new_zeros(self.base.in_channels, self.basis.shape[1]))
        elif self.mode == "parallel":
            self.adapters[name] = ParallelAdapter(self.base.out_channels, self.base.in_channels // self.base.groups,
                                                  init=self.init)
        else:
            self.adapters[name] = SeriesAdapter(self.base.out_channels, init=self.init)

    def alpha(self, domain: str) -> torch.Tensor:
        """The domain's adapter matrix as a (C_out, C_in/groups, 1, 1) kernel."""
        adapter = self.adapters[domain]
        return adapter.conv.weight if self.mode == "series" else adapter.alpha(self.basis)

    def delta_weight(self, domain: str) -> torch.Tensor:
        """diag_L(alpha): what a parallel adapter adds to the 3x3 kernel (sec. 3.1.2)."""
        if self.mode != "parallel":
            raise ValueError("only parallel adapters are additive and can be fused and unfused exactly")
        return diag_embed(self.alpha(domain), self.base.kernel_size)

    def _parallel_branch(self, x: torch.Tensor, domain: str, out_hw: tuple[int, int]) -> torch.Tensor:
        if self.dropout > 0:  # whole channels dropped; an unbatched (C, H, W) image as a batch of one
            batch = x if x.ndim == 4 else x.unsqueeze(0)
            x = F.dropout2d(batch, p=self.dropout, training=self.training).view_as(x)
        top, left = self.offset
        if top or left:  # realign the 1x1 branch with the kernel centre (padding not "same")
            pt, pl = max(-top, 0), max(-left, 0)  # extra padding: centres may fall in the zero border
            x = F.pad(x, (pl, pl, pt, pt))[..., top + pt:, left + pl:]
        y = F.conv2d(x, self.alpha(domain), stride=self.base.stride, groups=self.base.groups)
        return y[..., : out_hw[0], : out_hw[1]]

    def runs_fused(self) -> bool:
        """Whether forward runs the one-convolution form (exact unless dropout perturbs x's copy)."""
        return (self.mode == "parallel" and self.fused_training and self.fused_domain is None
                and not (self.dropout > 0 and self.training))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        domain = self._active()
        if self.runs_fused():
            return fused_parallel_conv(x, self.base, self.alpha(domain), self.offset)
        y = self.base(x)
        if self.fused_domain is not None:
            if domain != self.fused_domain:
                raise RuntimeError(f"adapters are fused for {self.fused_domain!r}; unfuse before running {domain!r}")
            return y
        if self.mode == "parallel":
            return y + self._parallel_branch(x, domain, y.shape[-2:])
        return self.adapters[domain](y)


# ---------------------------------------------------------------- walkers


def domain_modules(model: nn.Module) -> Iterator[tuple[str, DomainModule]]:
    for name, module in model.named_modules():
        if isinstance(module, DomainModule):
            yield name, module


def model_domains(model: nn.Module) -> list[str]:
    """Domains every domain-specific module of `model` knows (in insertion order)."""
    names: list[str] | None = None
    for _, module in domain_modules(model):
        here = module.domain_names()
        names = here if names is None else [n for n in names if n in here]
    return names or []


def set_domain(model: nn.Module, name: str) -> nn.Module:
    """Make `name` the active domain of every domain-specific module in `model`."""
    known = model_domains(model)
    if name not in known:
        raise UnknownDomainError(name, known)
    for _, module in domain_modules(model):
        module.active_domain = name
    return model


def adapted_convs(model: nn.Module) -> Iterator[tuple[str, AdaptedConv]]:
    for name, module in model.named_modules():
        if isinstance(module, AdaptedConv):
            yield name, module


def set_fused_training(model: nn.Module, on: bool) -> nn.Module:
    """Run parallel adapters as one convolution (`paperlib.model.fused`, sec. 3.1.2) or as two branches."""
    for _, conv in adapted_convs(model):
        conv.fused_training = bool(on)
    return model


def fuse_adapters(model: nn.Module, domain: str, *, inplace: bool = False) -> nn.Module:
    """g = f + diag_L(alpha) for every parallel adapter (sec. 3.1.2): the returned model runs
    `domain` with plain convolutions. Checked for finite values before it is committed."""
    if not inplace:
        model = copy.deepcopy(model)
    set_domain(model, domain)
    with torch.no_grad():
        for name, conv in adapted_convs(model):
            if conv.mode != "parallel" or conv.fused_domain == domain:
                continue
            if conv.fused_domain is not None:
                raise RuntimeError(f"{name} is fused for {conv.fused_domain!r}; unfuse first")
            if conv.offset != (0, 0):
                raise ValueError(f"{name}: fusing needs 'same' padding (kernel centre aligned with the 1x1 branch)")
            fused = conv.base.weight + conv.delta_weight(domain)
            if not torch.isfinite(fused).all():
                raise FloatingPointError(f"fusing {name} for {domain!r} gives non-finite weights")
            conv.base.weight.copy_(fused)
            conv.fused_domain = domain
    return model


def unfuse_adapters(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Undo `fuse_adapters`: f = g - diag_L(alpha), so the network can be retargeted."""
    if not inplace:
        model = copy.deepcopy(model)
    with torch.no_grad():
        for _, conv in adapted_convs(model):
            if conv.fused_domain is not None:
                conv.base.weight.sub_(conv.delta_weight(conv.fused_domain))
                conv.fused_domain = None
    return model


def add_parallel_adapters(model: nn.Module, domains: Sequence[str], *, domain_batchnorm: bool = True,
                          dropout: float = 0.0, init: str = "zeros", inplace: bool = False,
                          skip: Sequence[str] = ()) -> nn.Module:
    """Steer an off-the-shelf network (e.g. torchvision's resnet50) to several domains.

    Every nn.Conv2d with an odd square kernel becomes an `AdaptedConv` (grouped and depthwise
    convolutions get grouped 1x1 adapters, exact as well); with `domain_batchnorm` every
    BatchNorm2d becomes a `DomainBatchNorm` initialised from the original statistics.
    Adapters start at zero by default so each domain starts as the original network.
    1x1 convolutions are left alone: a parallel 1x1 adapter would only duplicate them.
    Names in `skip` (module paths) are left untouched.
    """
    if not inplace:
        model = copy.deepcopy(model)
    if not domains:
        raise ValueError("add_parallel_adapters needs at least one domain name")
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            path = f"{parent_name}.{child_name}" if parent_name else child_name
            if path in skip:
                continue
            if type(child) is nn.Conv2d and child.kernel_size != (1, 1):
                setattr(parent, child_name, AdaptedConv(child, domains, mode="parallel", dropout=dropout,
                                                        init=init, name=path))
            elif domain_batchnorm and type(child) is nn.BatchNorm2d:
                bn = DomainBatchNorm(child.num_features)
                for d in domains:
                    bn.norms[d] = copy.deepcopy(child)
                setattr(parent, child_name, bn)
    return model
