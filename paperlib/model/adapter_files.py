"""Adapters as files: one domain's tensors, or the shared network, as a safetensors file.

The paper's promise (sec. 1, 3): one universal network w, and per domain a small set of
parameters alpha_t (adapters, BNs, classifier) that can be stored, exchanged and plugged in.
An *adapter file* holds exactly one domain's tensors; a *base file* holds the shared network.
Both carry their description in the safetensors header metadata (str -> str; values are JSON):

    format            "paperlib-adapter" or "paperlib-base"
    format_version    FORMAT_VERSION
    base_sha256       sha256 of the shared weights (`shared_sha256`): an adapter is only ever
                      loaded into the network it was trained on
    domain, class_names, adapter, placement, width, image_size, crop, mean, std,
    training (the settings), val_accuracy                                  (adapter files)

An adapter file stores its tensors under names with the domain replaced by DOMAIN_SLOT
("stem.bn.norms.@.weight"), so it can be plugged in under another name. Everything written
goes through `paperlib.data.atomic` (never half a file); reading never unpickles; every refusal
is an `AdapterFileError` whose message is one line naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from paperlib.core.errors import first_line
from paperlib.core.files import safetensors_problem, write_bytes
from paperlib.model.adapters import LowRankAdapter, domain_modules, model_domains

FORMAT_VERSION = 1
ADAPTER_FORMAT, BASE_FORMAT = "paperlib-adapter", "paperlib-base"
DOMAIN_SLOT = "@"
# the ModuleDicts that hold one entry per domain (adapters.py): norms, heads, adapters
_PER_DOMAIN = ("norms", "heads", "adapters")


class AdapterFileError(ValueError):
    """A file that cannot be used as asked; the message is one line naming it and the remedy."""


# ---------------------------------------------------------------- which tensors are whose


def tensor_domain(name: str, domains: set[str]) -> str | None:
    """The domain a state-dict entry belongs to ("x.norms.<d>.weight"), or None if shared."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        if parts[i - 1] in _PER_DOMAIN and parts[i] in domains:
            return parts[i]
    return None


def shared_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The universal weights w (the 3x3 convolutions), by canonical name: a plain conv's
    "x.conv.weight" and an adapted one's "x.conv.base.weight" are the same tensor of w."""
    domains = set(model_domains(model))
    return {name.replace(".base.", "."): t for name, t in model.state_dict().items()
            if tensor_domain(name, domains) is None and not name.endswith(".basis")}


def shared_sha256(model: nn.Module) -> str:
    """sha256 over the shared weights (sorted names, dtypes, shapes, bytes): the same for a base
    network and for any network that adds domains or adapters to it, as long as w is untouched."""
    digest = hashlib.sha256()
    for name, tensor in sorted(shared_state(model).items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def domain_state(model: nn.Module, domain: str) -> dict[str, torch.Tensor]:
    """One domain's parameters and buffers (BNs, adapters, head), the domain written DOMAIN_SLOT."""
    domains = set(model_domains(model))
    if domain not in domains:
        raise KeyError(f"unknown domain {domain!r}; this model knows: {', '.join(sorted(domains))}")
    out = {}
    for name, tensor in model.state_dict().items():
        if tensor_domain(name, domains) == domain:
            parts = name.split(".")
            out[".".join(DOMAIN_SLOT if p == domain and parts[i - 1] in _PER_DOMAIN else p
                         for i, p in enumerate(parts))] = tensor
    return out


# ---------------------------------------------------------------- files


def write_file(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], header: Mapping[str, Any], *,
               kind: str, extra: Mapping[str, str] | None = None) -> Path:
    """Tensors and header (each value JSON) as one safetensors file, written atomically."""
    meta = {"format": kind, "format_version": str(FORMAT_VERSION)}
    meta.update({k: json.dumps(v, sort_keys=True) for k, v in header.items()})
    meta.update(extra or {})
    data = st_save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=meta)
    write_bytes(path, data)
    return Path(path)


def read_file(path: str | os.PathLike, *, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, header) of a file written by `write_file`; refuses anything else in one line."""
    path = Path(path)
    what = "an adapter" if kind == ADAPTER_FORMAT else "a base network"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AdapterFileError(f"{path}: cannot read it ({err.strerror or err}); check the path") from None
    problem = safetensors_problem(data)  # the project's one check of a safetensors file's bytes
    try:
        if problem is not None:
            raise ValueError(problem)
        meta = json.loads(data[8:8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
        tensors = st_load(data)
    except Exception as err:  # safetensors, json and unicode errors all mean the same thing here
        raise AdapterFileError(f"{path}: not a readable safetensors file ({first_line(err) or 'no detail'}); "
                               "it is truncated or corrupt: copy or export it again") from None
    if meta.get("format") != kind:
        found = f"a {meta['format']!r} file" if "format" in meta else "a safetensors file without paperlib's header"
        raise AdapterFileError(f"{path}: {found}, not {what} ({kind}); give a file written by "
                               f"{'paperlib adapt' if kind == ADAPTER_FORMAT else 'paperlib export-base'}")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise AdapterFileError(f"{path}: format version {meta.get('format_version')!r}, this paperlib reads "
                               f"{FORMAT_VERSION}; write it again with this version")
    try:
        header = {k: json.loads(v) for k, v in meta.items() if k not in ("format", "format_version", "paperlib")}
    except ValueError:
        raise AdapterFileError(f"{path}: its header is not valid JSON; the file is corrupt: write it again") from None
    return tensors, header


# ---------------------------------------------------------------- adapters in and out of a network


def save_adapter(model: nn.Module, domain: str, path: str | os.PathLike,
                 info: Mapping[str, Any] | None = None) -> Path:
    """One domain of `model` as an adapter file. `info` adds or overrides header fields
    (class_names, image_size, crop, mean, std, training, val_accuracy); a domain loaded from a
    file keeps that file's header (`model.adapter_info`)."""
    for name, module in domain_modules(model):
        adapters = getattr(module, "adapters", {})
        if domain in adapters and isinstance(adapters[domain], LowRankAdapter):
            raise AdapterFileError(f"{path}: {name} of {domain!r} is SVD-compressed (sec. 3.4); its basis is "
                                   "shared by several domains, so it is not a single-domain adapter file")
    num_classes = dict(model.domains)[domain]
    config = model.config
    header: dict[str, Any] = {"class_names": [str(i) for i in range(num_classes)],
                              **getattr(model, "adapter_info", {}).get(domain, {}), **(info or {})}
    header.update(domain=domain, num_classes=num_classes, adapter=config.adapter, placement=config.placement,
                  width=config.width, base_sha256=shared_sha256(model))
    if len(header["class_names"]) != num_classes:
        raise ValueError(f"{len(header['class_names'])} class names for the {num_classes} classes of {domain!r}")
    return write_file(path, domain_state(model, domain), header, kind=ADAPTER_FORMAT)


def load_adapter(model: nn.Module, path: str | os.PathLike, *, domain: str | None = None) -> str:
    """Add the domain of an adapter file to `model` (under `domain`, default the file's name).
    Every check runs before the model changes: the file, the base's hash, the adapter kind and
    placement, the name, the tensors' names and shapes. Returns the domain's name."""
    tensors, header = read_file(path, kind=ADAPTER_FORMAT)
    name = domain or header.get("domain")
    config = model.config
    if not isinstance(name, str) or not isinstance(header.get("class_names"), list):
        raise AdapterFileError(f"{path}: its header lacks the domain or class names; write it again with paperlib adapt")
    own_hash = shared_sha256(model)
    if header.get("base_sha256") != own_hash:
        raise AdapterFileError(f"{path}: trained on another base network (sha256 {str(header.get('base_sha256'))[:12]}, "
                               f"this one is {own_hash[:12]}); load it into the base it was adapted from")
    if (header.get("adapter"), header.get("placement")) != (config.adapter, config.placement):
        raise AdapterFileError(f"{path}: {header.get('adapter')} adapters at {header.get('placement')!r}, but this network "
                               f"has {config.adapter} adapters at {config.placement!r}; build it with those "
                               "(paperlib.portable.base.load_base(base, adapter=..., placement=...))")
    if name in model.domains:
        raise AdapterFileError(f"{path}: domain {name!r} is already in this network; load it under another "
                               "name (domain=...) or into a fresh network")
    num_classes = len(header["class_names"])
    template_domain = next(iter(model.domains))
    wanted = {k: v.shape for k, v in domain_state(model, template_domain).items()}
    for k in ("classifier.heads.@.weight", "classifier.heads.@.bias"):
        if k in wanted:
            wanted[k] = torch.Size([num_classes, *wanted[k][1:]])
    if set(tensors) != set(wanted):
        odd = sorted(set(tensors) ^ set(wanted))
        raise AdapterFileError(f"{path}: its tensors do not match this network's ({len(odd)} names differ, "
                               f"e.g. {odd[0]!r}); it was written for another architecture")
    bad = [k for k, v in tensors.items() if v.shape != wanted[k]]
    if bad:
        raise AdapterFileError(f"{path}: tensor {bad[0]} has shape {tuple(tensors[bad[0]].shape)}, this network "
                               f"needs {tuple(wanted[bad[0]])}; it was written for another width or architecture")
    model.add_domain(name, num_classes)
    own = domain_state(model, name)
    with torch.no_grad():
        for k, tensor in tensors.items():
            own[k].copy_(tensor)
    model.adapter_info[name] = {k: v for k, v in header.items() if k not in ("domain", "base_sha256")}
    return name


def file_header(path: str | os.PathLike, *, kind: str = ADAPTER_FORMAT) -> dict[str, Any]:
    """The header of an adapter (or base) file, checked as `read_file` does."""
    return read_file(path, kind=kind)[1]


__all__ = ["FORMAT_VERSION", "ADAPTER_FORMAT", "BASE_FORMAT", "AdapterFileError", "shared_state", "shared_sha256",
           "domain_state", "write_file", "read_file", "save_adapter", "load_adapter", "file_header", "tensor_domain"]
