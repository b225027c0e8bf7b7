"""One training engine for every experiment of the paper (sec. 4), driven by a run's spec
(`TrainConfig`) and its `Runtime`.

Methods (roles.METHODS): scratch (pretraining or training from scratch), finetune (all
weights), head (heads only: a frozen feature extractor), bn (BNs and heads only), series /
parallel (adapters, BNs, heads; 3x3 convolutions frozen), svd (joint SVD of trained parallel
adapters, then gamma_t, BNs and heads, sec. 3.4), lora (peft LoRA of rank `lora_rank` on every
frozen 3x3 conv, BNs and heads; paperlib.model.lora).

Several domains train together in one run: batches alternate round robin (domain 1, 2, ..., T,
1, ...), each domain through its own BNs, adapters and head, and an epoch is T times the number
of batches of the smallest domain, as in the authors' code. SGD with momentum, per-group weight
decay (spec.py explains the values) and MultiStepLR, stepped once per epoch. One step is
`step.make_batch` then `step.train_step`; the bench times exactly these.

Reproducible and resumable: the shuffling and augmentation generators (CPU) and torch's global
RNG (dropout) are re-seeded at the start of every epoch from (seed, epoch, rank), so an epoch
depends only on the state at its start; a checkpoint written atomically at the end of every
epoch (spec, epoch, step, model, optimizer, scheduler, history) is therefore all a killed run
needs to end exactly where an uninterrupted one does. Multi-process runs: see distributed.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from paperlib.data import DomainSplit, load_split
from paperlib.model.adapters import set_fused_training
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import freeze_norm_statistics
from paperlib.train.build import teacher_model, trainable_model, weight_files
from paperlib.train.checkpoint import load_checkpoint, load_scheduler_state, save_checkpoint, scheduler_state
from paperlib.train.decay import param_groups
from paperlib.train.distributed import Group, describe_device, init_distributed, resolve_device, swap_batchnorm
from paperlib.train.evaluation import evaluate, evaluate_all, evaluate_best
from paperlib.train.run_data import RunData, crop_side, input_spec, load_run_data, steps_per_epoch
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.step import make_batch, train_step

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
    # the same splits with the weights of the epoch best on validation (None: no val split evaluated)
    metrics_best: dict[str, dict[str, float | None]] | None = None
    best_epoch: int | None = None


def train(config: TrainConfig, runtime: Runtime | None = None, *, loader: Loader | None = None,
          checkpoint: str | os.PathLike | None = None, pretrained: Sequence[str | os.PathLike] | None = None
          ) -> TrainResult:
    """Train (or resume) one run and evaluate it on `config.eval_splits`.

    Args:
        config: the run's spec.
        runtime: data folder, device, compile, progress (default `Runtime()`).
        loader: (domain, split) -> DomainSplit; default `paperlib.data.load_split(runtime.data_dir, ...)`.
        checkpoint: file written at the end of every epoch and resumed from when it exists.
        pretrained: the weight files of `config.pretrained` (the results store resolves upstream
            specs to them); default: `config.pretrained`, which must then hold file paths.
    """
    runtime = runtime or Runtime()
    device = resolve_device(runtime.device)
    group = init_distributed(device)
    if group.world > 1 and device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        data = load_run_data(config, loader or (lambda d, s: load_split(runtime.data_dir, d, s)), device)
        channels_last = config.channels_last and (device.type == "cuda" or runtime.channels_last_cpu)
        files = weight_files(config, pretrained)
        model = trainable_model(config, data, device, group, files, channels_last=channels_last)
        teacher = teacher_model(config, files, device, channels_last=channels_last)
        set_fused_training(model, runtime.fused_training_for(device.type, config.batch_size))
        optimizer = torch.optim.SGD(param_groups(model, config), lr=config.initial_lr, momentum=config.momentum)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config.milestone_epochs(), config.lr_decay)
        start_epoch, history, elapsed, resumed, best = _resume(checkpoint, config, model, optimizer, scheduler)
        loop = _Loop(config, runtime, model, _wrap(model, config, runtime, group, device), optimizer, scheduler,
                     data, device, group, checkpoint, teacher=teacher)
        loop.best = best
        for epoch in range(start_epoch, config.epochs):
            elapsed += loop.run_epoch(epoch, history, elapsed)
        t0 = time.perf_counter()
        if group.world > 1 and config.sync_bn:
            swap_batchnorm(model, nn.BatchNorm2d)  # plain BNs again: the returned model is ordinary
        # the last epoch's validation already evaluated the final weights on val (the same call
        # evaluate_all makes, but for LoRA, which it evaluates merged, and across processes)
        known = loop.final_val if group.world == 1 and config.method != "lora" else {}
        metrics, predictions = evaluate_all(config, model, data, known=known)
        if loop.best is not None and loop.best["epoch"] == config.epochs:  # best-on-val weights are the final ones
            metrics_best = copy.deepcopy(metrics)
        else:
            metrics_best = evaluate_best(config, model, data, loop.best)
        elapsed += time.perf_counter() - t0
        return TrainResult(config=config, model=model.cpu(), metrics=metrics, predictions=predictions,
                           history=history, wall_time_s=elapsed, device=describe_device(device, group.world),
                           world_size=group.world, rank=group.rank, resumed_from_epoch=resumed,
                           metrics_best=metrics_best, best_epoch=loop.best["epoch"] if loop.best else None)
    finally:
        if group.owns and dist.is_initialized():
            dist.destroy_process_group()


def _resume(checkpoint, config: TrainConfig, model: nn.Module, optimizer,
            scheduler) -> tuple[int, list, float, int | None, dict | None]:
    """(first epoch, history, elapsed seconds, resumed-from epoch, best-on-validation state) from
    the last checkpoint of this very run."""
    state = load_checkpoint(checkpoint) if checkpoint is not None else None
    if state is None:
        return 0, [], 0.0, None, None
    if state["config"] != config.to_json():
        raise ValueError(f"checkpoint {checkpoint} belongs to another run; delete it or change the path")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    load_scheduler_state(scheduler, state["scheduler"])
    epoch = int(state["epoch"])
    best = state.get("best")
    if best is not None:
        best = {"epoch": int(best["epoch"]), "score": float(best["score"]), "model": best["model"]}
    return epoch, json.loads(state["history"]), float(state["elapsed"]), epoch, best


def _wrap(model: ResNet26, config: TrainConfig, runtime: Runtime, group: Group, device: torch.device) -> nn.Module:
    """The network that runs the steps: DDP across processes, torch.compile if asked."""
    net: nn.Module = model
    if group.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=len(config.domains) > 1)  # heads of the other domains idle per step
    if runtime.compile:
        # set_domain changes module attributes: one graph per domain, so allow that many
        from torch import _dynamo

        _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 2 * len(config.domains) + 2)
        net = torch.compile(net)
    return net


@dataclass
class _Loop:
    """Everything an epoch needs; `run_epoch` trains one and checkpoints it."""

    config: TrainConfig
    runtime: Runtime
    model: ResNet26
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data: RunData
    device: torch.device
    group: Group
    checkpoint: str | os.PathLike | None
    teacher: nn.Module | None = None  # method parallel_distilled: the frozen teacher (train.distill)
    best: dict | None = None  # {"epoch", "score": mean val %, "model": CPU state dict} of the best epoch
    # (domain, "val") -> (accuracy, image ids, predictions) of the final epoch's weights, once it ran here
    final_val: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        config, group = self.config, self.group
        self.sizes = {d: len(self.data.subsets[d]) for d in config.domains}
        self.steps = steps_per_epoch(config, list(self.sizes.values()))
        if group.world > 1 and (config.batch_size % group.world or min(self.sizes.values()) < config.batch_size):
            raise ValueError(f"batch_size {config.batch_size} must divide among {group.world} processes "
                             f"and fit in every domain's training set ({self.sizes})")
        self.shard = slice(group.rank * config.batch_size // group.world,
                           (group.rank + 1) * config.batch_size // group.world)
        self.shuffle_gen, self.augment_gen = torch.Generator(), torch.Generator()

    def run_epoch(self, epoch: int, history: list[dict], elapsed: float) -> float:
        """Train epoch `epoch` (round robin over the domains), append its summary to `history`,
        checkpoint (rank 0); returns its seconds."""
        config, data, group, steps = self.config, self.data, self.group, self.steps
        t0 = time.perf_counter()
        # the randomness of this epoch: a function of (seed, epoch, rank) only
        seed = config.seed * 1_000_003 + epoch
        self.shuffle_gen.manual_seed(seed)
        self.augment_gen.manual_seed(seed + 500_009)
        torch.manual_seed(seed * 8191 + group.rank)
        order = {d: data.subsets[d][torch.randperm(self.sizes[d], generator=self.shuffle_gen)] for d in config.domains}
        self.model.train()
        if config.method == "head":  # a frozen feature extractor: the source's BN statistics stay
            freeze_norm_statistics(self.model)
        log = _LossLog(config.domains, group.world)
        lr = self.optimizer.param_groups[0]["lr"]
        show = self.runtime.progress
        bar = tqdm(total=steps * config.batch_size, desc=f"epoch {epoch + 1}/{config.epochs}", unit="img",
                   unit_scale=True, leave=False, disable=(not group.main) or (None if show is None else not show))
        for i in range(steps):
            domain = config.domains[i % len(config.domains)]
            b = i // len(config.domains)
            x, y = make_batch(data.images[domain], data.labels[domain],
                              order[domain][b * config.batch_size:(b + 1) * config.batch_size], domain,
                              crop=data.crops[domain], device=self.device, generator=self.augment_gen,
                              spec=input_spec(domain, config.source_domain))
            if group.world > 1:  # this process's slice of the global batch
                x, y = x[self.shard], y[self.shard]
            loss, logits = train_step(self.model, self.optimizer, x, y, domain, net=self.net,
                                      autocast=config.autocast(self.device.type), teacher=self.teacher,
                                      distill=(config.distill_weight, config.distill_temperature),
                                      channels_last=config.channels_last)
            # bookkeeping on the device; a NaN / inf loss stops the run at the next read
            log.add(loss, (logits.argmax(1) == y).sum(), y.numel(), epoch * steps + i, epoch, domain, lr)
            if (i + 1) % LOSS_SYNC_EVERY == 0 or i + 1 == steps:
                log.check(self.checkpoint, epochs_done=epoch)
                bar.set_postfix(loss=f"{log.last:.3f}", refresh=False)
            bar.update(config.batch_size)
        bar.close()
        self.scheduler.step()
        seconds = time.perf_counter() - t0
        entry = {"epoch": epoch + 1, "lr": lr, "steps": steps, "seconds": round(seconds, 3), **log.summary()}
        val = self.validate(final=epoch + 1 == config.epochs)
        if val:
            entry["val_acc"] = val
            score = sum(val.values()) / len(val)
            if self.best is None or score > self.best["score"]:  # ties keep the earlier epoch
                state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
                self.best = {"epoch": epoch + 1, "score": score, "model": state}
        history.append(entry)
        if self.checkpoint is not None and group.main:  # atomic: everything the next epoch depends on
            save_checkpoint(self.checkpoint, {
                "config": config.to_json(), "epoch": epoch + 1, "step": (epoch + 1) * steps,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": scheduler_state(self.scheduler), "history": json.dumps(history),
                "elapsed": elapsed + seconds, "best": self.best})
        return seconds

    def validate(self, *, final: bool = False) -> dict[str, float]:
        """Top-1 (%) on the val split of every domain that evaluates one (paper: the authors keep
        the epoch best on validation); {} when the run evaluates no val split. Its time is not in
        the epoch's "seconds" (training only, comparable with the bench). After the `final` epoch
        the predictions are kept in `final_val`: the final evaluation need not compute them again."""
        out = {}
        for (d, split_name), split in self.data.eval_sets.items():
            if split_name != "val":
                continue
            acc, ids, pred = evaluate(self.model, split, crop=crop_side(self.config, split),
                                 batch_size=self.config.eval_batch_size, limit_batches=self.config.eval_limit_batches,
                                 autocast=self.config.autocast(self.device.type),
                                 channels_last=self.config.channels_last,
                                 spec=input_spec(d, self.config.source_domain))
            if final:
                self.final_val[d, split_name] = (acc, ids, pred)
            if acc is not None:
                out[d] = acc
        return out


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
