"""The shared pieces of `paperlib bench`: what is measured (`Setting`, `Plan`, the methods and
targets), how a figure is timed (`_timed`: warm-up, then rounds timing each function in turn),
the machine's matmul peak, and the engine's training step on a bench model.

This module imports nothing from the other bench modules; they all import from it.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.model.adapters import set_fused_training
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable
from paperlib.train.profiles import get_profile
from paperlib.train.step import make_batch, train_step

SCHEMA = 1
DOMAIN = "cifar100"  # the domain trained and timed: RandomCrop + flip, 100 classes
FUSED = "parallel_fused"  # parallel adapters trained as one convolution (paperlib.fused), as the engine does
METHODS = ("finetune", "parallel", FUSED, "series")  # "parallel": the two-branch form, for comparison
# The floor under every adapter step: all convolutions frozen and no adapter, only BN and the
# classifier train (Table 1's BN adaptation). An adapter step is this step plus its adapters' work,
# so floor / finetune is the least any adapter step / finetune can be at a setting. Timed with the
# methods, never judged against a goal.
FLOOR = "bn"
TIMED = (*METHODS, FLOOR)


@dataclass(frozen=True)
class Setting:
    """Resolution and width: image = side of the stored square, crop = training crop."""

    name: str
    image: int
    crop: int
    width: float


def profile_setting(name: str) -> Setting:
    """The resolution and width of a profile (the one table, `profiles.get_profile`): 72-pixel
    images, 64-pixel crops and width 1 for full; 40 / 32 and a narrower net for mini."""
    s = get_profile(name)
    return Setting(name, image=s.image_size, crop=s.crop, width=float(s.width))


BATCH = {"cpu": {"smoke": 8, "mini": 64, "full": 32}, "cuda": {"smoke": 32, "mini": 256, "full": 256}}
TARGETS = {  # what the benchmark should show (printed with whether it is met; never asserted)
    # adapter training step / finetuning step, at most, per setting (the fused parallel
    # bound is (1 + 1 + 1/9) / 3 = 0.70 of the convolutions; at mini the rest of the step weighs more)
    "adapter_step_ratio": {"smoke": 0.85, "mini": 0.85, "full": 0.75},
    "fused_inference_ratio": 1.02,  # fused adapters / plain network, at most
    "loader_speedup": 5.0,  # our loader / the reference pipeline, at least
    "cpu_utilization": 0.45,  # CPU training FLOP/s / float32 matmul peak, at least
    "h100_images_per_s": 30_000,  # training images/s on one H100, full setting (64 px, width 1), batch 256+
}


@dataclass(frozen=True)
class Plan:
    """What to measure and how often."""

    device: str  # "cpu" or "cuda"
    settings: tuple[str, ...]
    batch: int | None = None  # None: BATCH[device][setting]
    warmup: int = 2
    repeats: int = 5
    steps: int = 1  # steps per timed repeat (CUDA: several, so one sync is amortized)
    min_sample_s: float = 0.1  # fast calls are repeated within a sample to last this long
    matmul_n: int = 2048  # side of the square matrices of the peak measurement
    data_images: int = 1024  # images each data pipeline delivers per repeat
    workers: int = 2  # DataLoader workers of the reference pipeline
    data_root: str | None = None  # a decathlon-1.0 tree; None: generate a MiniDecathlon
    mini_scale: float = 1.0  # images per class of the generated tree (1: 2,000 cifar100 images)
    variants: bool = False  # CUDA: fp32 / bf16 / channels_last / compile; CPU: threads / channels_last / compile
    threads: int | None = None  # torch's CPU threads during the run (None: torch's default)

    def __post_init__(self) -> None:
        if self.matmul_n % 64:
            raise ValueError(f"matmul_n must be a multiple of 64, got {self.matmul_n}")

    def batch_for(self, setting: str) -> int:
        return self.batch or BATCH[self.device][setting]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def peak_products(plan: Plan) -> dict[str, tuple[Callable[[], object], int]]:
    """Two large matrix products and their FLOPs, float32 on CPU and bf16 on CUDA (what training
    runs in): torch.mm of two n x n matrices (MKL / cuBLAS), and a (4096 x c) @ (c x c) product,
    c = n / 2, run as a 1x1 convolution over 16 channels-last images of 16 x 16 pixels (oneDNN /
    cuDNN, the libraries that run the network). The peak is the faster: MKL takes its AVX2 path
    on AMD processors, where oneDNN's AVX-512 kernels are ~2x faster (fastest at this shape)."""
    dev = torch.device(plan.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    n, c = plan.matmul_n, plan.matmul_n // 2
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dev, dtype) for _ in range(2))
    out = torch.empty(n, n, device=dev, dtype=dtype)
    x = torch.randn(16, 16, 16, c, generator=g).to(dev, dtype).permute(0, 3, 1, 2)  # 16 x c x 16 x 16, NHWC
    w = torch.randn(c, c, 1, 1, generator=g).to(dev, dtype)
    return {"mm": (lambda: torch.mm(a, b, out=out), 2 * n**3), "conv1x1": (lambda: F.conv2d(x, w), 2 * 4096 * c * c)}


def _round_peaks(products: dict, samples: dict[str, list[float]], prefix: str = "") -> list[float]:
    """The peak FLOP/s of each round: the faster product."""
    rounds = len(next(iter(samples.values())))
    return [max(flops / samples[prefix + name][r] for name, (_, flops) in products.items()) for r in range(rounds)]


def matmul_peak(plan: Plan) -> dict:
    """The peak on its own at the start of the run (the training section re-measures it in its
    rounds, so utilization compares figures taken under the same load)."""
    products = peak_products(plan)
    samples = _timed({name: fn for name, (fn, _) in products.items()}, plan, inner=1)
    result: dict = {"dtype": "bfloat16" if plan.device == "cuda" else "float32", "n": plan.matmul_n,
                    "c": plan.matmul_n // 2}
    for name, (_, flops) in products.items():
        median = statistics.median(samples[name])
        result[name] = {"median_s": median, "samples_s": samples[name], "flop_s": flops / median}
    result["flop_s"] = statistics.median(_round_peaks(products, samples))
    return result


def _paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a_r / b_r: each pair was timed back to back, under the same load."""
    return statistics.median(x / y for x, y in zip(a, b))


# ---------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fns: dict[str, Callable[[], object]], plan: Plan, *, inner: int | None = None) -> dict[str, list[float]]:
    """Seconds per call of each function: warm-up, then `repeats` rounds timing each in turn.

    A sample times at least `inner` calls (default plan.steps), and enough of them to last
    plan.min_sample_s, so that a fast call is not lost in timer and scheduler granularity.
    """
    calls = {}
    for name, fn in fns.items():
        for _ in range(plan.warmup):
            fn()
        _sync(plan.device)
        start = time.perf_counter()
        fn()
        _sync(plan.device)
        one = time.perf_counter() - start
        calls[name] = max(plan.steps if inner is None else inner, math.ceil(plan.min_sample_s / max(one, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(plan.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            _sync(plan.device)
            samples[name].append((time.perf_counter() - start) / calls[name])
    return samples


# ---------------------------------------------------------------- the training step


def base_method(method: str) -> str:
    """The training method of `paperlib.model.roles.set_trainable` behind a bench method."""
    return "parallel" if method == FUSED else method


def build_model(method: str, setting: Setting) -> ResNet26:
    """`parallel` runs its adapters as two branches, `parallel_fused` as one convolution."""
    adapter = base_method(method) if base_method(method) in ("parallel", "series") else None
    model = ResNet26.build([(DOMAIN, 100)], width=setting.width, adapter=adapter)
    return set_fused_training(model, method == FUSED)


def make_train_step(model: nn.Module, method: str, setting: Setting, batch: int, device: str, *,
                    amp: bool, channels_last: bool, compile: bool = False) -> Callable[[], None]:
    """One step of the engine (`engine.make_batch` then `engine.train_step`, the very functions
    `engine.train` runs) on a random uint8 set kept on the device, with SGD + momentum over the
    trainable parameters only."""
    dev = torch.device(device)
    set_trainable(model, method, DOMAIN)
    model.set_domain(DOMAIN).train().to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    count = 4 * batch
    images = torch.randint(0, 256, (count, 3, setting.image, setting.image), generator=g, dtype=torch.uint8).to(dev)
    labels = torch.randint(0, 100, (count,), generator=g).to(dev)
    forward = torch.compile(model) if compile else model

    def step() -> None:
        x, y = make_batch(images, labels, torch.randint(0, count, (batch,), generator=g), DOMAIN, crop=setting.crop,
                          device=dev, generator=g)
        train_step(model, optimizer, x, y, DOMAIN, net=forward, autocast=amp, channels_last=channels_last)

    return step
