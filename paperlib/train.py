"""One training engine for every experiment of the paper (sec. 4), driven by a `TrainConfig`.

Methods (models.METHODS): scratch (pretraining or training from scratch), finetune (all
weights), bn (BNs and heads only), series / parallel (adapters, BNs, heads; 3x3 convolutions
frozen), svd (joint SVD of trained parallel adapters, then gamma_t, BNs and heads, sec. 3.4).

Several domains train together in one run: batches alternate round robin (domain 1, 2, ..., T,
1, ...), each domain through its own BNs, adapters and head, and an epoch is T times the number
of batches of the smallest domain, as in the authors' code. SGD with momentum, per-group weight
decay (config.py explains the values) and MultiStepLR, stepped once per epoch.

Reproducible and resumable: the shuffling and augmentation generators (CPU) and torch's global
RNG (dropout) are re-seeded at the start of every epoch from (seed, epoch, rank), so an epoch
depends only on the state at its start; a checkpoint written atomically at the end of every
epoch (config, epoch, step, model, optimizer, scheduler, history) is therefore all a killed run
needs to end exactly where an uninterrupted one does.

Multi-GPU: launched with `torchrun`, the engine reads WORLD_SIZE / RANK / LOCAL_RANK, joins the
process group (nccl on CUDA, gloo on CPU) and wraps the model in DistributedDataParallel. Every
process draws the same global batch and keeps its own slice of it; BNs are synchronised over the
global batch (`sync_bn`: nn.SyncBatchNorm on CUDA; on CPU, where PyTorch has none, a BatchNorm
whose statistics go through a differentiable all_reduce), so N processes compute what one
process computes with the same global batch. Rank 0 writes checkpoints and records.

    paperlib train --config cfg.json [--results DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import checkpoint as ckpt
from .compress import compress_jointly
from .config import TrainConfig
from .data import DOMAINS, DomainSpec, DomainSplit, augment_batch, domain_spec, load_split
from .models import ModelConfig, ResNet26, parameter_roles, set_trainable, transfer_from
from .results import ResultStore, make_record

Loader = Callable[[str, str], DomainSplit]  # (domain, split) -> DomainSplit
LOSS_SYNC_EVERY = 25  # steps between two reads of the losses from the device (NaN check, bar)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step, domain and learning rate."""


@dataclass
class TrainResult:
    """What `train` returns. metrics[domain][split]: top-1 accuracy in % (None: no labels);
    predictions[domain][split]: (image_ids, predicted labels), CPU int64 tensors."""

    config: TrainConfig
    model: ResNet26
    metrics: dict[str, dict[str, float | None]]
    predictions: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]
    history: list[dict]
    wall_time_s: float
    device: str
    world_size: int = 1
    rank: int = 0
    resumed_from_epoch: int | None = None


# ---------------------------------------------------------------- the engine


def train(config: TrainConfig, *, loader: Loader | None = None, checkpoint: str | os.PathLike | None = None,
          progress: bool | None = None) -> TrainResult:
    """Train (or resume) one run and evaluate it on `config.eval_splits`.

    Args:
        config: the run.
        loader: (domain, split) -> DomainSplit; default `paperlib.data.load_split(config.data_dir, ...)`.
        checkpoint: file written at the end of every epoch and resumed from when it exists.
        progress: tqdm bar per epoch; None: only when stderr is a terminal.
    """
    # 1. processes and device: torchrun's environment, if any, decides the process group
    device = _resolve_device(config.device)
    group = _init_distributed(device)
    if group.world > 1 and device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        # 2. data: train and eval splits per domain; seeded subsets of the classes and images if asked
        loader = loader or (lambda d, s: load_split(config.data_dir, d, s))
        train_sets = {d: loader(d, config.train_split) for d in config.domains}
        classes = {d: class_subset(s.num_classes, config.class_fraction, config.seed) for d, s in train_sets.items()}
        eval_sets = {(d, s): _restrict(loader(d, s), classes[d]) for d in config.domains for s in config.eval_splits}
        subsets = {d: _train_indices(s.labels, classes[d], config.train_fraction, config.seed)
                   for d, s in train_sets.items()}
        for d, split in train_sets.items():
            if len(subsets[d]) == 0 or bool((split.labels[subsets[d]] < 0).any()):
                raise ValueError(f"train split {config.train_split!r} of {d!r} is empty or has unlabelled images")
        images = {d: _maybe_to_device(s.images, device) for d, s in train_sets.items()}
        labels = {d: s.labels.to(images[d].device) for d, s in train_sets.items()}
        crops = {d: _crop(config, s) for d, s in train_sets.items()}
        specs = {d: input_spec(d, config.source_domain) for d in config.domains}

        # 3. model: build, start from the pretrained weights, compress (svd), choose what trains
        model = build_model(config, {d: s.num_classes for d, s in train_sets.items()})
        trainable = set()
        for d in config.domains:
            trainable |= set(set_trainable(model, config.method, d))
        for name, p in model.named_parameters():
            p.requires_grad_(name in trainable)
        model.to(device)
        if config.channels_last and device.type == "cuda":
            model.to(memory_format=torch.channels_last)
        if group.world > 1 and config.sync_bn:
            _swap_batchnorm(model, nn.SyncBatchNorm if device.type == "cuda" else AllReduceBatchNorm2d)

        # 4. optimiser: SGD + momentum, weight decay per group, lr x lr_decay at each milestone
        optimizer = torch.optim.SGD(param_groups(model, config), lr=config.lr, momentum=config.momentum)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config.milestone_epochs(), config.lr_decay)

        # 5. resume: the last checkpoint of this very config, if one exists
        start_epoch, history, elapsed, resumed = 0, [], 0.0, None
        state = ckpt.load_checkpoint(checkpoint) if checkpoint is not None else None
        if state is not None:
            if state["config"] != config.to_json():
                raise ValueError(f"checkpoint {checkpoint} belongs to another config; delete it or change the path")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            ckpt.load_scheduler_state(scheduler, state["scheduler"])
            start_epoch, history, elapsed = int(state["epoch"]), json.loads(state["history"]), float(state["elapsed"])
            resumed = start_epoch

        # 6. the network that runs the steps: DDP across processes, torch.compile if asked
        net: nn.Module = model
        if group.world > 1:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=len(config.domains) > 1)  # heads of the other domains idle per step
        if config.compile:
            # set_domain changes module attributes: one graph per domain, so allow that many
            from torch import _dynamo

            _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 2 * len(config.domains) + 2)
            net = torch.compile(net)

        # 7. epochs: round-robin over domains, one checkpoint at the end of each
        sizes = {d: len(subsets[d]) for d in config.domains}
        batches = {d: max(1, n // config.batch_size) for d, n in sizes.items()}
        steps = len(config.domains) * min(batches.values())
        if config.train_limit_batches is not None:
            steps = min(steps, config.train_limit_batches)
        if group.world > 1:
            if config.batch_size % group.world or min(sizes.values()) < config.batch_size:
                raise ValueError(f"batch_size {config.batch_size} must divide among {group.world} processes "
                                 f"and fit in every domain's training set ({sizes})")
        shard = slice(group.rank * config.batch_size // group.world, (group.rank + 1) * config.batch_size // group.world)
        shuffle_gen, augment_gen = torch.Generator(), torch.Generator()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            # 7a. randomness of this epoch: a function of (seed, epoch, rank) only
            seed = config.seed * 1_000_003 + epoch
            shuffle_gen.manual_seed(seed)
            augment_gen.manual_seed(seed + 500_009)
            torch.manual_seed(seed * 8191 + group.rank)
            order = {d: subsets[d][torch.randperm(sizes[d], generator=shuffle_gen)] for d in config.domains}
            model.train()
            log = _LossLog(config.domains, group.world)
            lr = optimizer.param_groups[0]["lr"]
            bar = tqdm(total=steps * config.batch_size, desc=f"epoch {epoch + 1}/{config.epochs}", unit="img",
                       unit_scale=True, leave=False, disable=(not group.main) or (None if progress is None else not progress))
            for i in range(steps):
                domain = config.domains[i % len(config.domains)]
                b = i // len(config.domains)
                # 7b. the global batch: index the uint8 tensor, move, augment on the device
                idx = order[domain][b * config.batch_size:(b + 1) * config.batch_size].to(images[domain].device)
                x = augment_batch(images[domain][idx].to(device, non_blocking=True), specs[domain],
                                  train=True, crop=crops[domain], generator=augment_gen)
                y = labels[domain][idx].to(device, non_blocking=True)
                if group.world > 1:  # this process's slice of the global batch
                    x, y = x[shard], y[shard]
                if config.channels_last and device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                # 7c. forward, backward, step
                model.set_domain(domain)
                with autocast:
                    logits = net(x)  # B x classes
                loss = F.cross_entropy(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                # 7d. bookkeeping on the device; a NaN / inf loss stops the run at the next read
                step = epoch * steps + i
                log.add(loss.detach(), (logits.argmax(1) == y).sum(), y.numel(), step, epoch, domain, lr)
                if (i + 1) % LOSS_SYNC_EVERY == 0 or i + 1 == steps:
                    log.check(checkpoint, epochs_done=epoch)
                    bar.set_postfix(loss=f"{log.last:.3f}", refresh=False)
                bar.update(config.batch_size)
            bar.close()
            scheduler.step()
            elapsed += time.perf_counter() - t0
            history.append({"epoch": epoch + 1, "lr": lr, "steps": steps, "seconds": round(time.perf_counter() - t0, 3),
                            **log.summary()})
            # 7e. checkpoint (rank 0, atomic): everything the next epoch depends on
            if checkpoint is not None and group.main:
                ckpt.save_checkpoint(checkpoint, {
                    "config": config.to_json(), "epoch": epoch + 1, "step": (epoch + 1) * steps,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": ckpt.scheduler_state(scheduler), "history": json.dumps(history),
                    "elapsed": elapsed})

        # 8. evaluation: top-1 per domain and split (and the predictions, for submissions)
        t0 = time.perf_counter()
        if group.world > 1 and config.sync_bn:
            _swap_batchnorm(model, nn.BatchNorm2d)  # plain BNs again: the returned model is ordinary
        metrics: dict[str, dict[str, float | None]] = {d: {} for d in config.domains}
        predictions: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {d: {} for d in config.domains}
        for (d, s), split in eval_sets.items():
            acc, ids, pred = evaluate(model, split, crop=_crop(config, split), batch_size=config.eval_batch_size,
                                      spec=specs[d],
                                      limit_batches=config.eval_limit_batches, amp=config.amp,
                                      channels_last=config.channels_last)
            metrics[d][s], predictions[d][s] = acc, (ids, pred)
        elapsed += time.perf_counter() - t0
        return TrainResult(config=config, model=model.cpu(), metrics=metrics, predictions=predictions,
                           history=history, wall_time_s=elapsed, device=_describe(device, group.world),
                           world_size=group.world, rank=group.rank, resumed_from_epoch=resumed)
    finally:
        if group.owns and dist.is_initialized():
            dist.destroy_process_group()


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: ResNet26, split: DomainSplit, *, crop: int, batch_size: int = 256,
             limit_batches: int | None = None, amp: bool = True,
             channels_last: bool = True, spec: DomainSpec | None = None) -> tuple[float | None, torch.Tensor, torch.Tensor]:
    """(top-1 accuracy in %, image ids, predicted labels) of `model` on one split, centre crop
    (normalised by `spec`, default `input_spec(split.domain)`).

    The accuracy is None when the split has no labels (the stripped Decathlon test set)."""
    device = next(model.parameters()).device
    model.eval()
    model.set_domain(split.domain)
    n = len(split) if limit_batches is None else min(len(split), limit_batches * batch_size)
    spec = spec or input_spec(split.domain)
    preds = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
        for lo in range(0, n, batch_size):
            x = augment_batch(split.images[lo:lo + batch_size].to(device, non_blocking=True), spec,
                              train=False, crop=crop)
            if channels_last and device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            preds.append(model(x).argmax(1))
    pred = torch.cat(preds).cpu() if preds else torch.zeros(0, dtype=torch.long)
    labels = split.labels[:n]
    acc = None if n == 0 or bool((labels < 0).any()) else float((pred == labels).double().mean() * 100)
    return acc, split.image_ids[:n].clone(), pred


# ---------------------------------------------------------------- model and optimiser


def build_model(config: TrainConfig, num_classes: Mapping[str, int]) -> ResNet26:
    """ResNet-26 for `config.domains`, seeded, initialised from `config.pretrained` (if any),
    jointly SVD-compressed for method svd. The svd_domains that are not trained come along
    (frozen) with their heads from the pretrained files: their adapters shape the shared basis."""
    sources = [load_model(p) for p in config.pretrained]
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
    if config.method == "svd":
        compress_jointly(model, list(config.svd_domains or config.domains), rank=config.svd_rank, inplace=True)
    return model


def init_from_pretrained(model: ResNet26, sources: Sequence[ResNet26], *, source_domain: str) -> None:
    """Each target domain found in a source takes that source's parameters for it (BNs, adapters,
    head) by name; the others start from `source_domain` of the first source that has it
    (`models.transfer_from`: shared convs, BNs and adapters; fresh head). All sources must agree
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


def _canonical(name: str) -> str:
    """A plain conv's "x.conv.weight" is an adapted one's "x.conv.base.weight" (as models.load_matching)."""
    return name.replace(".base.", ".")


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
    state, meta = ckpt.load_weights(path)
    if "model_config" not in meta:
        raise ValueError(f"{path} has no paperlib metadata (model_config); was it written by save_model?")
    model = ResNet26(ModelConfig(**meta["model_config"]))
    if meta.get("svd") is not None:
        compress_jointly(model, meta["svd"]["domains"], rank=meta["svd"]["rank"], inplace=True)
    model.load_state_dict(state)
    return model


def save_model(path: str | os.PathLike, model: ResNet26, config: TrainConfig) -> None:
    """Final weights (safetensors) with what `load_model` needs to rebuild the model."""
    svd = ({"domains": list(config.svd_domains or config.domains), "rank": config.svd_rank}
           if config.method == "svd" else None)
    ckpt.save_weights(path, model.state_dict(), {"model_config": asdict(model.config), "svd": svd,
                                                 "run_id": config.run_id, "method": config.method})


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """The trainable parameters in SGD groups by weight decay: "adapter:<domain>" (the paper's
    per-domain decay), "shared" (3x3 convs: shared_weight_decay or weight_decay) and "other"
    (BNs, heads: weight_decay). Each group carries the names of its parameters."""
    roles = parameter_roles(model)
    shared_decay = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    groups: dict[str, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        role, d = roles[name]
        if role == "adapter":
            key, decay = f"adapter:{d}", config.adapter_decay(d)
        elif role in ("shared", "basis"):
            key, decay = "shared", shared_decay
        else:
            key, decay = "other", config.weight_decay
        group = groups.setdefault(key, {"params": [], "names": [], "weight_decay": decay, "group": key})
        group["params"].append(p)
        group["names"].append(name)
    if not groups:
        raise ValueError(f"method {config.method!r} leaves nothing to train in this model")
    return list(groups.values())


# ---------------------------------------------------------------- data helpers


def input_spec(domain: str, source_domain: str = "imagenet12") -> DomainSpec:
    """How a domain's images are normalised and cropped: a Decathlon domain's own spec; a domain of
    the user's own (config.py) is normalised as the source network's images were, with random
    crop and flip (paperlib adapt records these values in the adapter file)."""
    if domain in DOMAINS:
        return domain_spec(domain)
    return replace(domain_spec(source_domain), name=domain, index=0, center_crop_only=False)


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded, class-stratified subset: round(fraction * n_c) images of each
    class c (at least one), chosen at random. fraction 1 gives every index."""
    n = labels.shape[0]
    if fraction >= 1.0:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed * 7919 + 104_729)
    perm = torch.randperm(n, generator=gen)
    lab = labels[perm]
    order = torch.sort(lab, stable=True).indices  # shuffled within each class
    lab_sorted = lab[order]
    _, counts = torch.unique_consecutive(lab_sorted, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_class = torch.arange(n) - torch.repeat_interleave(starts, counts)
    keep = torch.clamp(torch.round(counts.double() * fraction).long(), min=1)
    chosen = rank_in_class < torch.repeat_interleave(keep, counts)
    return torch.sort(perm[order][chosen]).values


def class_subset(num_classes: int, fraction: float, seed: int) -> torch.Tensor | None:
    """Sorted ids of a seeded random subset of round(fraction * num_classes) classes (at least
    one); None for fraction 1 (every class)."""
    if fraction >= 1.0:
        return None
    gen = torch.Generator().manual_seed(seed * 6007 + 31_337)
    keep = max(1, int(round(fraction * num_classes)))
    return torch.sort(torch.randperm(num_classes, generator=gen)[:keep]).values


def _train_indices(labels: torch.Tensor, classes: torch.Tensor | None, fraction: float, seed: int) -> torch.Tensor:
    """Indices of the training images used: those of `classes`, then a stratified `fraction`."""
    pool = torch.arange(labels.shape[0]) if classes is None else torch.nonzero(torch.isin(labels, classes)).flatten()
    return pool[stratified_subset(labels[pool], fraction, seed)]


def _restrict(split: DomainSplit, classes: torch.Tensor | None) -> DomainSplit:
    """The images of `classes` only (an unlabelled split is kept whole: it cannot be filtered)."""
    if classes is None or bool((split.labels < 0).any()):
        return split
    keep = torch.isin(split.labels, classes)
    return DomainSplit(split.domain, split.split, split.images[keep], split.labels[keep], split.image_ids[keep],
                       split.num_classes)


def _crop(config: TrainConfig, split: DomainSplit) -> int:
    """The crop side: config.crop, or 8/9 of the stored side rounded down to a multiple of 8
    (64 of 72, as the authors). Centre-crop-only domains (gtsrb, omniglot, svhn) use the whole
    image whatever the crop; either way the side must be a multiple of 8, because ResNet-26
    halves it three times and its parameter-free shortcut (AvgPool2d(2)) rounds odd sides down
    where the strided 3x3 convolution rounds them up."""
    side = int(split.images.shape[-1])
    crop = config.crop if config.crop is not None else side * 8 // 9 // 8 * 8
    used = side if input_spec(split.domain).center_crop_only else crop
    if not 0 < crop <= side or used % 8:
        raise ValueError(f"{split.domain}: the network input would be {used} pixels (images {side}, crop {crop}); "
                         "it must be a positive multiple of 8 no larger than the images")
    return crop


def _maybe_to_device(images: torch.Tensor, device: torch.device, limit_bytes: int = 4 << 30) -> torch.Tensor:
    """The whole uint8 set on the GPU when it is small enough (saves one copy per batch)."""
    if device.type == "cuda" and images.numel() <= limit_bytes:
        return images.to(device)
    return images


class _LossLog:
    """Losses and correct counts stay on the device; `check` reads them in one transfer (averaged
    over processes) and raises NonFiniteLossError at the first NaN / inf."""

    def __init__(self, domains: Sequence[str], world: int):
        self.pending: list[tuple[torch.Tensor, torch.Tensor, int, int, int, str, float]] = []
        self.world, self.last = world, float("nan")
        self.loss = dict.fromkeys(domains, 0.0)
        self.correct, self.seen, self.steps = dict.fromkeys(domains, 0), dict.fromkeys(domains, 0), dict.fromkeys(domains, 0)

    def add(self, loss, correct, count, step, epoch, domain, lr) -> None:
        self.pending.append((loss, correct, count, step, epoch, domain, lr))

    def check(self, checkpoint, *, epochs_done: int) -> None:
        if not self.pending:
            return
        values = torch.stack([torch.stack([p[0].float(), p[1].float()]) for p in self.pending])  # S x 2
        if self.world > 1:
            dist.all_reduce(values)  # every process sees (and stops at) the same NaN
            values[:, 0] /= self.world
        for (loss, correct), (_, _, count, step, epoch, domain, lr) in zip(values.tolist(), self.pending):
            if not math.isfinite(loss):
                kept = (f"the last good checkpoint, {checkpoint} after epoch {epochs_done}, is kept"
                        if checkpoint is not None and epochs_done > 0 else "no checkpoint had been written yet")
                raise NonFiniteLossError(f"non-finite loss ({loss}) at step {step} (epoch {epoch + 1}) on domain "
                                         f"{domain!r} with learning rate {lr:g}; {kept}")
            self.loss[domain] += loss
            self.correct[domain] += int(correct)
            self.seen[domain] += count * self.world
            self.steps[domain] += 1
            self.last = loss
        self.pending.clear()

    def summary(self) -> dict:
        return {"loss": {d: self.loss[d] / max(1, self.steps[d]) for d in self.loss},
                "train_acc": {d: 100.0 * self.correct[d] / max(1, self.seen[d]) for d in self.loss}}


# ---------------------------------------------------------------- processes and devices


@dataclass(frozen=True)
class _Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns: bool = False  # this call created the process group (and destroys it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available")
    return torch.device(name)


def _init_distributed(device: torch.device) -> _Group:
    """torchrun sets WORLD_SIZE, RANK, LOCAL_RANK (and MASTER_ADDR / MASTER_PORT)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Group()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Group(rank=rank, world=world, local_rank=local, owns=owns)


def _describe(device: torch.device, world: int) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return f"{name} x{world}" if world > 1 else name


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum is the sum of the gradients (all_reduce again)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with statistics over the global batch of all processes, for CPU (gloo) runs
    where nn.SyncBatchNorm does not work. The sums go through a differentiable all_reduce, so
    gradients flow through the global statistics as well."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c, xf = x.shape[1], x.float()
        count = torch.tensor([x.numel() / c], dtype=torch.float32, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)), count]))  # 2C+1
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)  # biased, as in the forward of BN
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as BN
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def _swap_batchnorm(module: nn.Module, cls: type[nn.Module]) -> None:
    """Replace every BatchNorm2d-like child by `cls`, sharing its parameters and buffers."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and type(child) is not cls:
            new = cls(child.num_features, eps=child.eps, momentum=child.momentum, affine=child.affine,
                      track_running_stats=child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            _swap_batchnorm(child, cls)


# ---------------------------------------------------------------- the results store around it


def run_or_load(config: TrainConfig, store: ResultStore | str | os.PathLike = "results", *,
                loader: Loader | None = None, overwrite: bool = False, keep_checkpoint: bool = False,
                progress: bool | None = None) -> dict:
    """The stored record of `config`, training first only if there is none (or `overwrite`).

    Notebooks call this, so rerunning one costs nothing once its runs are stored. After training,
    rank 0 writes the final weights, the predictions and then the record (in that order, each
    atomically) and deletes the checkpoint unless `keep_checkpoint`.
    """
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    if not overwrite:
        record = store.load(config)
        if record is not None:
            return record
    result = train(config, loader=loader, checkpoint=store.checkpoint_path(config), progress=progress)
    record = make_record(config, model=result.model, metrics=result.metrics, history=result.history,
                         wall_time_s=result.wall_time_s, device=result.device, world_size=result.world_size,
                         resumed_from_epoch=result.resumed_from_epoch, files=store.file_names(config))
    if result.rank == 0:
        save_model(store.weights_path(config), result.model, config)
        store.save_predictions(config, result.predictions)
        store.save(record, overwrite=overwrite)
        if not keep_checkpoint:
            store.checkpoint_path(config).unlink(missing_ok=True)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """`paperlib train --config cfg.json [--results DIR]`: run (or load) one config, print its metrics.

    The JSON holds TrainConfig fields; with a "profile" key the profile's defaults fill the rest."""
    parser = argparse.ArgumentParser(prog="paperlib train", description=main.__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON file of TrainConfig fields")
    parser.add_argument("--results", default="results", help="results store root (default: results)")
    parser.add_argument("--overwrite", action="store_true", help="train again and replace the stored record")
    parser.add_argument("--keep-checkpoint", action="store_true", help="keep the last checkpoint after the run")
    args = parser.parse_args(argv)
    try:
        values = json.loads(Path(args.config).read_text())
        if not isinstance(values, dict):
            raise ValueError(f"{args.config} must hold a JSON object of TrainConfig fields")
        config = TrainConfig.for_profile(values.pop("profile", "full"), **values)
    except (OSError, ValueError, TypeError) as err:
        print(f"paperlib train: {err}", file=sys.stderr)
        return 2
    record = run_or_load(config, args.results, overwrite=args.overwrite, keep_checkpoint=args.keep_checkpoint)
    print(json.dumps({"run_id": record["run_id"], "metrics": record["metrics"],
                      "wall_time_s": record["wall_time_s"]}, indent=1))
    return 0


__all__ = ["train", "evaluate", "run_or_load", "main", "TrainResult", "NonFiniteLossError", "build_model",
           "init_from_pretrained", "load_model", "save_model", "input_spec", "param_groups", "stratified_subset", "class_subset",
           "AllReduceBatchNorm2d"]
