"""Model IO and moving weights between models, in one place: save / load a trained network
(safetensors, never unpickled), and copy weights by name (never by position) from pretrained
networks into a new one (paper sec. 4.1: new domains start from the pretrained source domain).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import torch
from torch import nn

from paperlib.core.files import load_weights, save_weights
from paperlib.model.compress import compress_jointly
from paperlib.model.resnet import ModelConfig, ResNet26
from paperlib.model.roles import parameter_roles


def load_matching(model: nn.Module, state: Mapping[str, torch.Tensor], *, strict_shapes: bool = True,
                  ignore_missing: Sequence[str] = ("adapter", "basis")) -> dict[str, list[str]]:
    """Copy parameters and buffers by name (never by position).

    Returns {"loaded", "missing", "unexpected"}. A missing entry whose role is not in
    `ignore_missing` is an error, and so is a shape mismatch when `strict_shapes`.
    """
    own = model.state_dict()
    roles = parameter_roles(model)
    # a plain conv "x.conv.weight" is the shared "x.conv.base.weight" of an adapted one
    source = {_canonical(k): v for k, v in state.items()}
    loaded, missing, mismatched = [], [], []
    for name, target in own.items():
        key = _canonical(name)
        if key not in source:
            missing.append(name)
            continue
        if source[key].shape != target.shape:
            mismatched.append(f"{name}: {tuple(source[key].shape)} vs {tuple(target.shape)}")
            continue
        loaded.append(name)
    if mismatched and strict_shapes:
        raise ValueError("shape mismatch while loading: " + "; ".join(mismatched[:5]))
    fatal = [n for n in missing if roles.get(n, ("buffer", None))[0] not in ignore_missing
             and not _is_adapter_buffer(n)]
    if fatal:
        raise KeyError(f"{len(fatal)} entries missing from the source state, e.g. {fatal[:3]}")
    with torch.no_grad():
        for name in loaded:
            own[name].copy_(source[_canonical(name)])
    known = {_canonical(n) for n in own}
    return {"loaded": loaded, "missing": missing, "unexpected": [n for n in state if _canonical(n) not in known]}


def _canonical(name: str) -> str:
    """A plain conv's "x.conv.weight" is an adapted one's "x.conv.base.weight"."""
    return name.replace(".base.", ".")


def _is_adapter_buffer(name: str) -> bool:
    # running statistics of a series adapter's BN1 (absent from a network trained without it)
    return ".adapters." in name


def transfer_from(source: ResNet26, target: ResNet26, *, source_domain: str) -> None:
    """Initialise every target domain from a (pretrained) source: shared convs copied by name,
    each target domain's BNs (a series adapter's BN1 included) copied from `source_domain`. The
    adapters' 1x1 weights are not copied: they keep the target's fresh init (He by default), as
    the authors' code restarts the series adapters of a series-pretrained network
    (docs/authors_code.md, "Adapters")."""
    state = source.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        parts = name.split(".")
        if source_domain in parts:
            i = parts.index(source_domain)
            for d in target.domains:
                renamed[".".join(parts[:i] + [d] + parts[i + 1:])] = tensor
        else:
            renamed[name] = tensor
    # heads are per task and never transferred; adapters absent from the source keep their init
    roles = {_canonical(k): role for k, (role, _) in parameter_roles(target).items()}
    keep = {k: v for k, v in renamed.items() if ".heads." not in k and roles.get(_canonical(k)) != "adapter"}
    load_matching(target, keep, ignore_missing=("adapter", "basis", "head"))


def init_from_pretrained(model: ResNet26, sources: Sequence[ResNet26], *, source_domain: str) -> None:
    """Each target domain found in a source takes that source's parameters for it (BNs, adapters,
    head) by name; the others start from `source_domain` of the first source that has it
    (`transfer_from`: shared convs, BNs and adapters; fresh head). All sources must agree
    on the shared weights (adapters trained on one frozen backbone)."""
    covered = {d: next((s for s in sources if d in s.domains), None) for d in model.domains}
    missing = [d for d, s in covered.items() if s is None]
    if missing:
        base = next((s for s in sources if source_domain in s.domains), None)
        if base is None:
            raise ValueError(f"no pretrained network has domain {source_domain!r} to start {missing} from; "
                             f"they have: {[list(s.domains) for s in sources]}")
        transfer_from(base, model, source_domain=source_domain)
    else:
        _copy_by_name(model, sources[0].state_dict(), domains=set(), known=set(sources[0].domains))
    for d, source in covered.items():
        if source is not None:
            _copy_by_name(model, source.state_dict(), domains={d}, known=set(source.domains), shared=False)
    own = {_canonical(k): v for k, v in model.state_dict().items()}
    for source in sources:
        for name, tensor in source.state_dict().items():
            mine = own.get(_canonical(name))
            if mine is not None and _domain_of(name, set(source.domains)) is None and not torch.equal(mine, tensor):
                raise ValueError(f"the pretrained networks disagree on the shared weight {name}: "
                                 "adapters of different backbones cannot be combined")


def _domain_of(name: str, domains: set[str]) -> str | None:
    hits = [part for part in name.split(".") if part in domains]
    return hits[0] if hits else None


def _copy_by_name(model: nn.Module, state: Mapping[str, torch.Tensor], *, domains: set[str], known: set[str],
                  shared: bool = True) -> None:
    """Copy entries of `state` into `model`: those of `domains` and (if `shared`) those of no domain."""
    own = {_canonical(k): v for k, v in model.state_dict().items()}
    with torch.no_grad():
        for name, tensor in state.items():
            d, target = _domain_of(name, known), own.get(_canonical(name))
            if target is not None and ((d is None and shared) or d in domains):
                if target.shape != tensor.shape:
                    raise ValueError(f"pretrained {name}: shape {tuple(tensor.shape)} vs {tuple(target.shape)}")
                target.copy_(tensor)


def load_model(path: str | os.PathLike) -> ResNet26:
    """Rebuild the model saved by the results store (`save_model`): its ModelConfig and, for
    compressed models, the joint SVD structure come from the file's metadata."""
    state, meta = load_weights(path)
    if "model_config" not in meta:
        raise ValueError(f"{path} has no paperlib metadata (model_config); was it written by save_model?")
    if meta.get("svd") is None and meta.get("lora") is None:
        # every tensor comes from the file: skip the random initialisation (a tenth of a second at width 1)
        with torch.device("meta"):
            model = ResNet26(ModelConfig(**meta["model_config"]))
        model.load_state_dict(state, assign=True)
        return model
    svd = (meta["svd"]["domains"], meta["svd"]["rank"]) if meta.get("svd") is not None else None
    lora = int(meta["lora"]["rank"]) if meta.get("lora") is not None else None
    model = add_structure(ResNet26(ModelConfig(**meta["model_config"])), svd=svd, lora_rank=lora)
    model.load_state_dict(state)
    return model


def add_structure(model: ResNet26, *, svd: tuple[Sequence[str], float | int | None] | None = None,
                  lora_rank: int | None = None) -> ResNet26:
    """What a method adds to ResNet-26 beyond its ModelConfig, in place, in the order training
    adds it: the joint SVD of the adapters of `svd`'s domains at its rank (sec. 3.4), then LoRA of
    `lora_rank` (after the weights it adapts are in: peft renames conv.weight to
    conv.base_layer.weight). `build.build_model` builds a run's network with it, `load_model`
    rebuilds a stored one."""
    if svd is not None:
        compress_jointly(model, list(svd[0]), rank=svd[1], inplace=True)
    if lora_rank is not None:
        from paperlib.model.lora import apply_lora  # peft (and transformers): seconds to import

        apply_lora(model, lora_rank)
    return model


def save_model(path: str | os.PathLike, model: ResNet26, config) -> None:
    """Final weights (safetensors) with what `load_model` needs to rebuild the model (`config`:
    the run's TrainConfig)."""
    svd = ({"domains": list(config.svd_domains or config.domains), "rank": config.svd_k}
           if config.method == "svd" else None)
    save_weights(path, model.state_dict(), {"model_config": asdict(model.config), "svd": svd,
                                                 "run_id": config.run_id, "method": config.method,
                                                 "lora": {"rank": config.lora_rank} if config.method == "lora" else None})


__all__ = ["add_structure", "load_model", "save_model", "load_matching", "transfer_from", "init_from_pretrained"]
