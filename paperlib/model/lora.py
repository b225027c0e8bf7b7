"""LoRA on the 3x3 convolutions of the frozen ResNet-26, through Hugging Face `peft`: a modern
baseline for the parallel adapters at the same parameter budget (not in the paper).

LoRA (Hu et al., ICLR 2022) adds a low-rank update to a frozen weight. peft's `lora.Conv2d`
wraps a convolution W (C_out x C_in x k x k) and adds, per adapter,

    y = W * x + s * B(A(x)),   A: k x k conv C_in -> r (same stride and padding as W),
                               B: 1x1 conv r -> C_out (no bias),   s = lora_alpha / r,

so the update Delta W = s * B A is a k x k kernel of rank <= r, stored in r * (C_in k k + C_out)
parameters per convolution. peft initialises A at random and B = 0: every domain starts as the
frozen network. Here one peft adapter per domain (adapter name = domain) sits on every 3x3
convolution (the same convolutions that carry the parallel adapters of sec. 3.1.2), and it is
switched together with the per-domain BNs and heads by `ResNet26.set_domain` / `forward(x,
domain=...)`: `apply_lora` registers a `LoraDomains` switch among the model's domain modules.

We take s = 1 (lora_alpha = r): the update is B A whatever the rank, so the three ranks of the
accuracy-parameters front share one learning-rate scale, as the parallel adapters (scale 1) do.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from paperlib.model.adapters import DomainModule, set_domain
from paperlib.model.lora_budget import lora_targets, matched_rank
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import count_parameters, multi_domain_size, plain_reference

# peft warns when a second adapter is injected into the same model: one per domain is the design here
_SECOND_ADAPTER_WARNING = re.escape("Already found a `peft_config` attribute in the model")


def lora_config(rank: int, targets: Sequence[str], *, dropout: float = 0.0) -> LoraConfig:
    """peft's configuration for one domain: rank r, scale 1 (lora_alpha = r), no LoRA bias,
    peft's default init (A Kaiming-uniform, B = 0). `dropout` is peft's, on lora_A's input."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    return LoraConfig(r=rank, lora_alpha=rank, target_modules=list(targets), lora_dropout=dropout,
                      bias="none", init_lora_weights=True)


# ---------------------------------------------------------------- the per-domain switch


def lora_layers(model: nn.Module) -> Iterator[tuple[str, LoraLayer]]:
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            yield name, module


def _activate(layer: LoraLayer, domain: str) -> None:
    """Make `domain` the layer's active adapter without touching requires_grad: peft's
    `set_adapter` also unfreezes the active adapter and freezes the others, but here what trains
    is decided once by `roles.set_trainable` (a frozen domain must stay frozen when it runs)."""
    flags = [(p, p.requires_grad) for p in layer.parameters()]
    layer.set_adapter(domain)
    for p, flag in flags:
        p.requires_grad_(flag)


class LoraDomains(DomainModule):
    """Switches every peft LoRA layer of a model to the active domain's adapter.

    It has no parameters: it holds (unregistered) references to the LoRA layers, which stay
    where peft put them. `set_domain` sets `active_domain` on every domain module, this one
    included; a model merged for one domain refuses to switch to another (unmerge first).
    """

    def __init__(self, layers: Sequence[LoraLayer], config: LoraConfig):
        super().__init__()
        self._layers = list(layers)  # a plain list: registering them again would duplicate the state dict
        self.lora_config = config

    @property
    def active_domain(self) -> str | None:
        return self._active_domain

    @active_domain.setter
    def active_domain(self, name: str | None) -> None:
        if name is not None:
            merged = {d for layer in self._layers for d in layer.merged_adapters}
            if merged and merged != {name}:
                raise RuntimeError(f"LoRA is merged for {sorted(merged)}; unmerge_lora before running {name!r}")
            for layer in self._layers:
                _activate(layer, name)
        object.__setattr__(self, "_active_domain", name)

    def domain_names(self) -> list[str]:
        return list(self._layers[0].lora_A.keys()) if self._layers else []

    def add_domain(self, name: str, *, init_from: str | None = None) -> None:
        """A new domain's adapter through peft's `update_layer` (the path of every adapter);
        `init_from` copies that domain's LoRA weights."""
        for layer in self._layers:
            flags = [(p, p.requires_grad) for p in layer.parameters()]
            layer.update_layer(name, self.lora_config.r, lora_alpha=self.lora_config.lora_alpha,
                               config=self.lora_config)  # peft's set_adapter inside flips requires_grad
            for p, flag in flags:
                p.requires_grad_(flag)
            if init_from is not None:
                for part in (layer.lora_A, layer.lora_B):
                    part[name].load_state_dict(part[init_from].state_dict())
            _activate(layer, self.active_domain or name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # never called: a switch, not a layer
        raise RuntimeError("LoraDomains only switches adapters; call the model")


# ---------------------------------------------------------------- building, merging


def apply_lora(model: ResNet26, rank: int, *, dropout: float = 0.0) -> ResNet26:
    """Add one peft LoRA adapter per domain of `model` (adapter name = domain) to every 3x3
    convolution, in place, and register the switch as `model.lora_domains`.

    Call it after the pretrained weights are loaded (peft renames "x.conv.weight" to
    "x.conv.base_layer.weight"). The model keeps its class, `set_domain` and `forward(x,
    domain=...)`; requires_grad of the existing parameters is left as it was (peft would freeze
    everything but the adapters), the LoRA parameters start trainable: call
    `roles.set_trainable(model, "lora", domain)` to choose what trains.
    """
    if any(True for _ in lora_layers(model)):
        raise ValueError("the model already has LoRA layers; apply_lora once, with all its domains")
    targets = lora_targets(model)
    if not targets:
        raise ValueError("no 3x3 convolution to adapt")
    domains = list(model.domains)
    config = lora_config(rank, targets, dropout=dropout)
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SECOND_ADAPTER_WARNING)
        for domain in domains:
            inject_adapter_in_model(config, model, adapter_name=domain)
    for p, flag in flags:
        p.requires_grad_(flag)
    active = next((m.active_domain for m in model.modules() if isinstance(m, DomainModule)), None)
    model.lora_domains = LoraDomains([layer for _, layer in lora_layers(model)], config)
    if active is not None:
        set_domain(model, active)
    return model


def merge_lora(model: nn.Module, domain: str, *, inplace: bool = False) -> nn.Module:
    """W <- W + B_d A_d in every LoRA layer (peft's `merge`, checked for finite values before it is
    committed): the returned model runs `domain` with plain convolutions. The other domains'
    adapters are kept; `unmerge_lora` gives the multi-domain network back."""
    if not inplace:
        model = copy.deepcopy(model)
    set_domain(model, domain)
    with torch.no_grad():
        for name, layer in lora_layers(model):
            if layer.merged_adapters == [domain]:
                continue
            if layer.merged:
                raise RuntimeError(f"{name} is merged for {layer.merged_adapters}; unmerge_lora first")
            layer.merge(safe_merge=True, adapter_names=[domain])
    return model


def unmerge_lora(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Undo `merge_lora`: W <- W - B_d A_d (peft's `unmerge`; exact up to rounding)."""
    if not inplace:
        model = copy.deepcopy(model)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            if layer.merged:
                layer.unmerge()
    return model


# ---------------------------------------------------------------- the budget


@dataclass(frozen=True)
class LoraBudget:
    """The largest rank within the parallel adapters' Table 1 size, and both multipliers (unrounded)."""

    rank: int
    multiplier: float  # the LoRA network's multi-domain size over the plain network's
    parallel_multiplier: float  # the same for the parallel adapters ("2x" in Table 1)
    lora_per_domain: int  # LoRA parameters of one domain
    parallel_per_domain: int  # parallel adapter parameters of one domain


def parallel_matched_rank(domains: Sequence[tuple[str, int]], *, width: float,
                          source: str = "imagenet12") -> LoraBudget:
    """Rank and multiplier of the `LoRA-conv (peft)` row, as `table1.size_column` sizes Table 1:
    the ten-domain networks at `width` with the given class counts, over the plain network of
    `source`. Every domain carries its adapter in both networks (as in the parallel row); the
    LoRA multiplier is measured on a network that peft has actually adapted."""
    classes = dict(domains)
    rank = matched_rank(tuple(domains), width)
    with torch.device("meta"):  # only the shapes are counted
        reference = multi_domain_size(plain_reference(width, classes[source]))
        parallel = ResNet26.build(list(domains), width=width, adapter="parallel")
        lora = apply_lora(ResNet26.build(list(domains), width=width), rank)
    return LoraBudget(rank=rank, multiplier=multi_domain_size(lora) / reference,
                      parallel_multiplier=multi_domain_size(parallel) / reference,
                      lora_per_domain=count_parameters(lora, [source])["adapter"],
                      parallel_per_domain=count_parameters(parallel, [source])["adapter"])


__all__ = ["LoraBudget", "LoraDomains", "apply_lora", "lora_config", "lora_layers", "merge_lora", "parallel_matched_rank",
           "unmerge_lora"]
