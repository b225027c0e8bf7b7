"""How long a plan's trainings take: their training FLOPs (series.cost) over a measured rate.

A `Rate` is the training FLOP/s of one training, by method, with how many trainings run side by
side and where the figure comes from. Where it comes from:

- this CPU: the CPU bench file (benchmarks/cpu.json) where it was measured on this processor at
  the profile's setting and the workers' thread count (its `threads1+channels_last` variants:
  one torch thread, as the series' workers train); else `calibrate_cpu`, a few seconds of the
  engine's own training step here. Times the workers of `workers.plan_slots`, all kept busy.
- a GPU: the GPU bench file (benchmarks/h100*.json) measured at the profile's setting, else at
  full, at the batch nearest the profile's: its measured training FLOP/s per method on one GPU.
  A smaller network than the one measured runs below that rate, so a mini or smoke estimate from
  the full setting is a lower bound.

Only the training steps are counted: evaluation, data preparation and each training's start are
not, so a short training (smoke's few steps) takes longer than its estimate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from paperlib.core.files import read_json
from paperlib.core.machine import processor_name
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable
from paperlib.series.cost import estimated_flops, training_flops_per_image, training_images
from paperlib.series.workers import Slot
from paperlib.train.profiles import Profile
from paperlib.train.spec import TrainConfig
from paperlib.train.step import make_batch, train_step

# The bench's methods (paperlib bench: finetune, parallel_fused as the engine trains parallel
# adapters, series, bn) by the cost of a step of each training method.
BENCH_METHOD = {"scratch": "finetune", "finetune": "finetune", "head": "bn", "bn": "bn", "series": "series",
                "parallel": "parallel_fused", "svd": "parallel_fused", "lora": "parallel_fused",
                "parallel_distilled": "parallel_fused"}
CALIBRATION_DOMAIN = "cifar100"  # random crop and flip, as most targets train
CALIBRATION_STEP_FLOPS = 1e10  # a calibration step's work at most (a batch of 2 at full), so it lasts ~0.1 s


@dataclass(frozen=True)
class Rate:
    """Training FLOP/s of one training by bench method (`BENCH_METHOD`; "finetune" stands for a
    method not measured), how many trainings run side by side, and where the figures come from."""

    flop_s: Mapping[str, float]
    side_by_side: int
    source: str

    def __post_init__(self) -> None:
        if "finetune" not in self.flop_s or min(self.flop_s.values()) <= 0 or self.side_by_side < 1:
            raise ValueError(f"a rate needs a positive finetune FLOP/s and at least one training at a time: {self}")

    def seconds(self, method: str, flops: float) -> float:
        """Wall-clock seconds `flops` of training of `method` add to a plan's time."""
        flop_s = self.flop_s.get(BENCH_METHOD.get(method, "finetune"), self.flop_s["finetune"])
        return flops / flop_s / self.side_by_side


def format_duration(seconds: float) -> str:
    """Seconds up to a minute, minutes up to two hours, hours beyond: "27 s", "14 min", "3.2 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:,.1f} h"


def _matches(entry: dict, settings: Profile) -> bool:
    s = entry.get("setting", {})
    return (s.get("image"), s.get("crop"), s.get("width")) == (settings.image_size, settings.crop, settings.width)


def cpu_bench_rate(path: str | Path, settings: Profile, *, processor: str, threads: int,
                   side_by_side: int) -> Rate | None:
    """The rate a CPU bench file measured for one training at `threads` torch threads, at the
    profile's setting on `processor`; None where the file holds no such figure."""
    if not Path(path).is_file():
        return None
    bench = read_json(path)
    machine, entry = bench.get("machine", {}), bench.get("settings", {}).get(settings.name, {})
    variants = entry.get("cpu_variants", {})
    if machine.get("device") != "cpu" or machine.get("processor") != processor or not _matches(entry, settings):
        return None
    # the variants run at one thread and at the bench's own thread count (`run_threads`)
    variant = ("threads1+channels_last" if threads == 1
               else "channels_last" if threads == variants.get("run_threads") else None)
    flop_s = {m: variants[f"{m}/{variant}"]["images_per_s"] * entry["train"][m]["train_flops_per_image"]
              for m in ("finetune", "parallel_fused") if f"{m}/{variant}" in variants}
    if "finetune" not in flop_s:
        return None
    figures = ", ".join(f"{m} {v / 1e9:.3g}" for m, v in flop_s.items())
    return Rate(flop_s, side_by_side, f"{Path(path).name} ({processor}, {settings.name} setting, {threads} thread"
                f"{'s' if threads > 1 else ''}, batch {variants['batch']}): {figures} GFLOP/s a training")


def calibrate_cpu(settings: Profile, *, threads: int = 1, seconds: float = 2.0) -> float:
    """Training FLOP/s of one finetuning on this CPU at `threads` torch threads: the engine's own
    step (`train.step`, channels_last as the engine runs on the CPU) at the profile's width, crop
    and batch (smaller where a step would exceed `CALIBRATION_STEP_FLOPS`), on random images,
    timed over about `seconds` after two warm-up steps. The thread count is restored after."""
    per_image = training_flops_per_image(settings.width, settings.crop, adapter=None)
    batch = max(2, min(settings.batch_size, round(CALIBRATION_STEP_FLOPS / per_image)))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        model = ResNet26.build([(CALIBRATION_DOMAIN, 100)], width=settings.width, adapter=None)
        set_trainable(model, "finetune", CALIBRATION_DOMAIN)
        model.set_domain(CALIBRATION_DOMAIN).train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        images = torch.randint(0, 256, (4 * batch, 3, settings.image_size, settings.image_size), generator=g,
                               dtype=torch.uint8)
        labels = torch.randint(0, 100, (4 * batch,), generator=g)

        def step() -> None:
            x, y = make_batch(images, labels, torch.randint(0, 4 * batch, (batch,), generator=g), CALIBRATION_DOMAIN,
                              crop=settings.crop, device=torch.device("cpu"), generator=g)
            train_step(model, optimizer, x, y, CALIBRATION_DOMAIN)

        step(), step()
        steps, started = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - started < seconds:
            step()
            steps += 1
        return steps * batch * per_image / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)


def calibrated_rate(settings: Profile, *, threads: int, side_by_side: int, processor: str) -> Rate:
    flop_s = calibrate_cpu(settings, threads=threads)
    return Rate({"finetune": flop_s}, side_by_side, f"calibrated here ({processor}, {settings.name} setting, "
                f"{threads} thread{'s' if threads > 1 else ''}): finetune {flop_s / 1e9:.3g} GFLOP/s a training")


def gpu_bench_rate(directory: str | Path, settings: Profile) -> Rate | None:
    """One GPU's rate from the CUDA bench files in `directory`: measured at the profile's setting
    where one was, else at full; of those, the one whose batch is nearest the profile's. None
    where there is none."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        bench = read_json(path)
        if bench.get("machine", {}).get("device") != "cuda":
            continue
        for name, entry in bench.get("settings", {}).items():
            own = _matches(entry, settings)
            if (own or name == "full") and "finetune" in entry.get("train", {}):
                found.append((not own, abs(entry["train"]["batch"] - settings.batch_size), path.name, bench, name))
    if not found:
        return None
    other, _, file, bench, name = min(found, key=lambda f: f[:3])
    train = bench["settings"][name]["train"]
    flop_s = {m: v["train_flop_s"] for m, v in train.items() if isinstance(v, dict) and "train_flop_s" in v}
    figures = ", ".join(f"{m} {v / 1e12:.0f}" for m, v in flop_s.items())
    bound = f"; {settings.name}'s smaller network runs below this rate: its time is a lower bound" if other else ""
    return Rate(flop_s, 1, f"{file} ({bench['machine'].get('device_name', 'GPU')}, {name} setting, batch "
                f"{train['batch']}, bf16): {figures} TFLOP/s{bound}")


def cpu_rate(settings: Profile, slots: tuple[Slot, ...], *, bench: str | Path | None, calibrate: bool) -> Rate:
    """This CPU's rate for a plan trained in `slots` (`workers.plan_slots`): from the `bench` file
    where it holds this processor's figure at the slots' thread count (unless `calibrate`), else
    calibrated here."""
    slot = next(s for s in slots if s.device == "cpu")
    processor = processor_name()
    rate = None if calibrate or bench is None else cpu_bench_rate(bench, settings, processor=processor,
                                                                  threads=slot.threads, side_by_side=slot.workers)
    return rate or calibrated_rate(settings, threads=slot.threads, side_by_side=slot.workers, processor=processor)


@dataclass(frozen=True)
class PlannedRun:
    """One training of a plan with its cost: the images it trains on (all epochs) and its FLOPs."""

    notebook: str
    upstream: bool  # trained because a run of `notebook` starts from it
    config: TrainConfig
    images: int
    flops: float


def planned_runs(trainings: list[tuple[str, dict, TrainConfig]],
                 cache_dir: str | Path | None = None) -> list[PlannedRun]:
    """`notebooks.series_trainings`' entries with their images and FLOPs (series.cost)."""
    return [PlannedRun(notebook, bool(labels.get("upstream")), config, training_images(config, cache_dir),
                       estimated_flops(config, cache_dir)) for notebook, labels, config in trainings]


@dataclass(frozen=True)
class Totals:
    trainings: int
    images: int
    flops: float
    seconds: dict[str, float]  # rate name -> seconds


def totals(runs: list[PlannedRun], rates: Mapping[str, Rate]) -> dict[str, Totals]:
    """notebook -> its trainings, images, FLOPs and seconds at each of `rates`, in run order, and
    "all" -> the same over the plan."""
    groups: dict[str, list[PlannedRun]] = {}
    for run in runs:
        groups.setdefault(run.notebook, []).append(run)
    groups["all"] = runs
    return {name: Totals(len(group), sum(r.images for r in group), sum(r.flops for r in group),
                         {k: sum(rate.seconds(r.config.method, r.flops) for r in group) for k, rate in rates.items()})
            for name, group in groups.items()}


__all__ = ["BENCH_METHOD", "PlannedRun", "Rate", "Totals", "calibrate_cpu", "calibrated_rate", "cpu_bench_rate",
           "cpu_rate", "format_duration", "gpu_bench_rate", "planned_runs", "totals"]
