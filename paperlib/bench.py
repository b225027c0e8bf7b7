"""`paperlib bench`: how fast the reproduction trains, infers and feeds itself (issue #6).

All figures come from one process: a median over repeats after warm-up, with the methods of a
comparison timed in turns (finetune, parallel, series, finetune, ...) so that a load change on a
shared machine hits every method alike and the ratios stay meaningful.

    1. training images/s: ResNet-26 with parallel adapters, series adapters, finetuning;
       the ratio adapter step / finetuning step (target <= 0.8: the 3x3 convs are frozen);
    2. inference: plain network, unfused and fused parallel adapters (target fused <= 1.02x plain);
    3. data: the decoded uint8 cache with batched tensor augmentation against the authors'
       pipeline (a PIL JPEG decode and torchvision transforms per image in a DataLoader);
    4. FLOPs per image from the layer shapes, achieved training FLOP/s, and the machine's matmul
       peak measured in the same run (float32 on CPU, bf16 on CUDA);
    5. peak memory of one training step;
    6. CUDA only: fp32 / bf16 autocast / channels_last / torch.compile variants.

`bench_markdown(json)` renders the JSON as the tables of the README's performance section.

    paperlib bench [--device cpu|cuda] [--profile smoke|mini|full ...] [--repeats N] [--quick]
                   [--batch N] [--workers N] [--data-root DIR] [--no-variants] --out FILE.json
    paperlib bench --markdown FILE.json

A profile names a setting (image side, crop, width); the default measures mini and full.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import fuse_adapters, set_fused_training
from .models import ResNet26, count_macs, set_trainable

SCHEMA = 1
DOMAIN = "cifar100"  # the domain trained and timed: RandomCrop + flip, 100 classes
FUSED = "parallel_fused"  # parallel adapters trained as one convolution (paperlib.fused), as the engine does
METHODS = ("finetune", "parallel", FUSED, "series")  # "parallel": the two-branch form, for comparison


@dataclass(frozen=True)
class Setting:
    """Resolution and width: image = side of the stored square, crop = training crop."""

    name: str
    image: int
    crop: int
    width: float


def profile_setting(name: str) -> Setting:
    """The resolution and width of a profile (the one table, `config.get_profile`): 72-pixel
    images, 64-pixel crops and width 1 for full; 40 / 32 and a narrower net for mini."""
    from .config import get_profile

    s = get_profile(name)
    return Setting(name, image=s.image_size, crop=s.crop, width=float(s.width))


BATCH = {"cpu": {"smoke": 8, "mini": 64, "full": 32}, "cuda": {"smoke": 32, "mini": 256, "full": 256}}
TARGETS = {  # what the benchmark should show (printed with whether it is met; never asserted)
    "adapter_step_ratio": 0.8,  # adapter training step / finetuning step, at most
    "fused_inference_ratio": 1.02,  # fused adapters / plain network, at most
    "loader_speedup": 5.0,  # our loader / the reference pipeline, at least
    "cpu_utilization": 0.40,  # CPU training FLOP/s / float32 matmul peak, at least
    "h100_images_per_s": 20_000,  # training images/s on one H100, full setting, batch 256+
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


# ---------------------------------------------------------------- 1. training steps


def base_method(method: str) -> str:
    """The training method of `paperlib.models.set_trainable` behind a bench method."""
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
    from .engine import make_batch, train_step

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
        train_step(model, optimizer, x, y, DOMAIN, net=forward, amp=amp, channels_last=channels_last)

    return step


def step_memory(step: Callable[[], None], device: str, model: nn.Module) -> dict:
    """Peak memory of one training step above what was allocated before it: activations,
    gradients and temporaries (the step starts without gradients; weights and momentum are the
    state before it)."""
    model.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_bytes": peak - before, "peak_allocated_bytes": peak,
                "method": "torch.cuda.max_memory_allocated during one step minus memory_allocated before it"}
    profiled = _profiler_peak(step)
    model.zero_grad(set_to_none=True)
    rss = _rss_peak(step)
    rss_method = ("process VmHWM after resetting it via /proc/self/clear_refs, minus VmRSS before the step "
                  "(a lower bound: malloc reuses memory it kept from earlier steps)")
    if profiled is None:
        if rss is None:
            raise RuntimeError("no way to measure CPU memory here: neither the torch profiler nor /proc/self")
        return {"peak_bytes": rss, "method": rss_method}
    result = {"peak_bytes": profiled,
              "method": "torch profiler (profile_memory): largest running sum of the CPU tensor allocations "
                        "minus frees during one step"}
    if rss is not None:
        result.update(rss_peak_bytes=rss, rss_method=rss_method)
    return result


KINETO_CHATTER = ("profiler_start", "profiler_stop", "gpuGetDeviceCount")


@contextlib.contextmanager
def _quiet_kineto():
    """Kineto writes start/stop lines to file descriptor 2 from C++; drop those, keep the rest."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if not any(word in line for word in KINETO_CHATTER):
                    print(line, file=sys.stderr)


def _profiler_peak(step: Callable[[], None]) -> int | None:
    from torch.profiler import ProfilerActivity, profile

    with _quiet_kineto(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    try:  # the raw event stream, in time order (the summaries lose the order)
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except AttributeError:  # another torch version: fall back to the RSS measure
        return None
    running = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        running += e.nbytes()
        peak = max(peak, running)
    return peak


def _rss_peak(step: Callable[[], None]) -> int | None:
    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
        before = status("VmRSS")
        step()
        return status("VmHWM") - before
    except (OSError, KeyError, ValueError):
        return None


def bench_train(setting: Setting, plan: Plan) -> dict:
    batch = plan.batch_for(setting.name)
    cuda = plan.device == "cuda"
    x = torch.zeros(1, 3, setting.crop, setting.crop)
    result: dict = {"batch": batch, "amp_bf16": cuda, "channels_last": cuda, "step_source": _step_source()}
    models, steps, macs = {}, {}, {}
    for method in METHODS:
        torch.manual_seed(0)
        models[method] = build_model(method, setting)
        macs[method] = count_macs(models[method], x, domain=DOMAIN)["total"]
        steps[method] = make_train_step(models[method], base_method(method), setting, batch, plan.device, amp=cuda,
                                        channels_last=cuda)
    # the peak products take their turn in every round, so utilization is measured under one load
    products = peak_products(plan)
    samples = _timed({**steps, **{f"peak/{name}": fn for name, (fn, _) in products.items()}}, plan)
    peaks = _round_peaks(products, samples, "peak/")
    result["peak_flop_s"] = statistics.median(peaks)
    for method in METHODS:
        median = statistics.median(samples[method])
        train_flops = 3 * 2 * macs[method]  # forward, backward to the inputs, backward to the weights
        rates = [train_flops * batch / t for t in samples[method]]
        result[method] = {
            "step_s": median, "samples_s": samples[method], "images_per_s": batch / median,
            "forward_flops_per_image": 2 * macs[method], "train_flops_per_image": train_flops,
            "train_flop_s": statistics.median(rates),
            "utilization": statistics.median(rate / peak for rate, peak in zip(rates, peaks)),
            "memory": step_memory(steps[method], plan.device, models[method]),
        }
    result["ratios"] = {f"{m}/finetune": _paired_ratio(samples[m], samples["finetune"]) for m in METHODS[1:]}
    return result


def _step_source() -> str:
    return "paperlib.engine.make_batch + paperlib.engine.train_step (the engine's own step)"


# ---------------------------------------------------------------- 2. inference


def bench_inference(setting: Setting, plan: Plan) -> dict:
    dev, cuda = torch.device(plan.device), plan.device == "cuda"
    batch = plan.batch_for(setting.name)
    torch.manual_seed(0)
    models = {"plain": build_model("finetune", setting), "unfused": build_model("parallel", setting)}
    models["fused"] = fuse_adapters(models["unfused"], DOMAIN)
    x = torch.randn(batch, 3, setting.crop, setting.crop, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # fusing is exact: check it before timing it (fp32, eval)
        fused, unfused = (models[k].eval()(x[:4], domain=DOMAIN) for k in ("fused", "unfused"))
        fused_error = float((fused - unfused).abs().max() / unfused.abs().max())
    macs = {name: count_macs(m, x[:1], domain=DOMAIN)["total"] for name, m in models.items()}
    x = x.to(dev)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    fns = {}
    for name, model in models.items():
        model.set_domain(DOMAIN).eval().to(dev)
        if cuda:
            model.to(memory_format=torch.channels_last)

        def run(model=model) -> None:
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                model(x)

        fns[name] = run
    samples = _timed(fns, plan)
    result: dict = {"batch": batch, "amp_bf16": cuda, "channels_last": cuda,
                    "fused_max_rel_diff": fused_error}  # max |fused - unfused| / max |unfused|
    for name in models:
        median = statistics.median(samples[name])
        result[name] = {"median_s": median, "samples_s": samples[name], "images_per_s": batch / median,
                        "forward_flops_per_image": 2 * macs[name]}
    result["ratios"] = {f"{n}/plain": _paired_ratio(samples[n], samples["plain"]) for n in ("fused", "unfused")}
    return result


# ---------------------------------------------------------------- 3. data pipeline


class JpegFolder(torch.utils.data.Dataset):
    """The authors' pipeline: open and decode one JPEG with PIL per sample, then transforms."""

    def __init__(self, paths: list[Path], labels: list[int], transform: Callable):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        with open(self.paths[i], "rb") as f:  # torchvision's pil_loader
            img = Image.open(f).convert("RGB")
        return self.transform(img), self.labels[i]


def _data_tree(setting: Setting, plan: Plan, tmp: Path) -> tuple[Path, str]:
    if plan.data_root is not None:
        return Path(plan.data_root), str(plan.data_root)
    from .data import generate_mini

    root = tmp / "tree"
    generate_mini(root, seed=0, size=setting.image, scale=plan.mini_scale, domains=(DOMAIN,))
    return root, f"generated MiniDecathlon ({DOMAIN}, seed 0, {setting.image} px, scale {plan.mini_scale:g})"


def bench_data(setting: Setting, plan: Plan) -> dict:
    from torchvision import transforms

    from .data import augment_batch, domain_spec, load_split, prepare, read_split
    from .data.decathlon import available_domains

    dev = torch.device(plan.device)
    batch = plan.batch_for(setting.name)
    with tempfile.TemporaryDirectory(prefix="paperlib-bench-") as tmp:
        root, tree = _data_tree(setting, plan, Path(tmp))
        domains = available_domains(root)
        cropped = [d for d in domains if not domain_spec(d).center_crop_only]
        domain = DOMAIN if DOMAIN in domains else (cropped or list(domains))[0]
        spec = domain_spec(domain)
        index = read_split(root, domain, "train")

        start = time.perf_counter()  # decode once (a one-off, not part of the per-epoch figure)
        prepare(root, Path(tmp) / "cache", [domain], ["train"], size=setting.image)
        prepare_s = time.perf_counter() - start
        split = load_split(Path(tmp) / "cache", domain, "train")
        n = min(len(split), plan.data_images)  # both pipelines read the same first n images
        images, labels = split.images[:n].clone().to(dev), split.labels[:n].to(dev)
        g = torch.Generator().manual_seed(0)
        epochs = max(1, math.ceil(plan.data_images / n))

        def ours() -> None:
            for _ in range(epochs):
                order = torch.randperm(n, generator=g).to(dev)
                for s in range(0, n, batch):  # the (x, y) a training step would consume
                    idx = order[s:s + batch]
                    augment_batch(images[idx], spec, train=True, crop=setting.crop, generator=g), labels[idx]

        crop = (transforms.CenterCrop(setting.image) if spec.center_crop_only else
                transforms.Compose([transforms.RandomCrop(setting.crop), transforms.RandomHorizontalFlip()]))
        transform = transforms.Compose([transforms.Resize(setting.image), crop, transforms.ToTensor(),
                                        transforms.Normalize(spec.mean, spec.std)])
        dataset = JpegFolder([index.path(i) for i in range(n)], index.labels[:n].tolist(), transform)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=plan.workers,
                                             pin_memory=dev.type == "cuda", persistent_workers=plan.workers > 0)

        def reference() -> None:
            for _ in range(epochs):
                for x, y in loader:
                    x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

        samples = _timed({"ours": ours, "reference": reference}, plan, inner=1)
        loader = None  # the last reference to it: its persistent workers stop
    result: dict = {"domain": domain, "tree": tree, "images": n, "batch": batch, "epochs_per_repeat": epochs}
    for name in ("ours", "reference"):
        median = statistics.median(samples[name])
        result[name] = {"median_s": median, "samples_s": samples[name], "images_per_s": epochs * n / median}
    result["ours"]["prepare_s"] = prepare_s  # the whole train split
    result["ours"]["prepare_images_per_s"] = len(split) / prepare_s
    result["reference"]["workers"] = plan.workers
    result["ratios"] = {"ours/reference": _paired_ratio(samples["reference"], samples["ours"])}  # time ref / ours
    return result


# ---------------------------------------------------------------- 6. CUDA variants

VARIANTS = {  # name -> (bf16 autocast, channels_last, torch.compile)
    "fp32": (False, False, False),
    "bf16": (True, False, False),
    "bf16+channels_last": (True, True, False),
    "bf16+channels_last+compile": (True, True, True),
}


def bench_variants(setting: Setting, plan: Plan, methods=("finetune", "parallel", FUSED)) -> dict:
    """Each variant timed on its own; a failure (typically torch.compile) is recorded, not raised."""
    batch = plan.batch_for(setting.name)
    result: dict = {"batch": batch}
    for method in methods:
        for name, (amp, channels_last, compiled) in VARIANTS.items():
            key = f"{method}/{name}"
            try:
                torch.manual_seed(0)
                step = make_train_step(build_model(method, setting), base_method(method), setting, batch, plan.device,
                                       amp=amp, channels_last=channels_last, compile=compiled)
                start = time.perf_counter()
                step()  # the first call compiles
                _sync(plan.device)
                first_s = time.perf_counter() - start
                samples = _timed({key: step}, plan)[key]
            except Exception as err:  # compile may fail in many ways (no compiler, dynamo, inductor)
                first_line = (str(err).splitlines() or [""])[0][:300]
                result[key] = {"error": f"{type(err).__name__}: {first_line}"}
                log(f"{setting.name} {key}: skipped ({result[key]['error']})")
                continue
            finally:
                if compiled:
                    torch.compiler.reset()  # drop the compiled graphs before the next model
            median = statistics.median(samples)
            result[key] = {"step_s": median, "samples_s": samples, "images_per_s": batch / median,
                           "first_step_s": first_s}
            log(f"{setting.name} {key}: {batch / median:,.0f} images/s")
    return result


# ---------------------------------------------------------------- the run


def run_bench(plan: Plan, argv: list[str] | None = None) -> dict:
    """Every section for every setting of the plan; returns the JSON-ready result."""
    if plan.device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda: no CUDA device is available")
        torch.backends.cudnn.benchmark = True
    threads = torch.get_num_threads()
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    try:
        return _run(plan, argv)
    finally:
        torch.set_num_threads(threads)


def _run(plan: Plan, argv: list[str] | None) -> dict:
    result: dict = {"schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "command": "paperlib bench " + " ".join(argv or []), "machine": _machine(plan),
                    "plan": asdict(plan), "settings": {}}
    log(f"matmul peak (n = {plan.matmul_n})")
    result["peak"] = matmul_peak(plan)
    log(f"peak {result['peak']['flop_s'] / 1e9:,.1f} GFLOP/s ({result['peak']['dtype']})")
    for name in plan.settings:
        setting = profile_setting(name)
        entry: dict = {"setting": asdict(setting)}
        log(f"{name}: training {', '.join(METHODS)}")
        entry["train"] = bench_train(setting, plan)
        log(f"{name}: " + ", ".join(f"{m} {entry['train'][m]['images_per_s']:,.0f}" for m in METHODS) + " images/s")
        log(f"{name}: inference plain / unfused / fused")
        entry["inference"] = bench_inference(setting, plan)
        log(f"{name}: data pipelines")
        entry["data"] = bench_data(setting, plan)
        log(f"{name}: ours {entry['data']['ours']['images_per_s']:,.0f}, reference "
            f"{entry['data']['reference']['images_per_s']:,.0f} images/s")
        if plan.variants and plan.device == "cuda" and name == plan.settings[-1]:  # compiling takes minutes
            entry["variants"] = bench_variants(setting, plan)
        if plan.variants and plan.device == "cpu":  # every setting: compile matters most for small nets
            from .bench_cpu import bench_cpu_variants

            log(f"{name}: CPU variants (threads, channels_last, torch.compile)")
            entry["cpu_variants"] = bench_cpu_variants(setting, plan)
        result["settings"][name] = entry
    result["machine"]["loadavg_end"] = _loadavg()
    result["targets"] = evaluate_targets(result)
    return result


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _machine(plan: Plan) -> dict:
    info = {"device": plan.device, "torch": torch.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "loadavg_start": _loadavg(),
            "processor": _cpu_name()}
    if plan.device == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def evaluate_targets(result: dict) -> list[dict]:
    """Each target with the value measured and whether it is met (shown, never asserted)."""
    rows = []

    def add(name: str, what: str, value: float, goal: float, at_most: bool) -> None:
        rows.append({"name": name, "what": what, "value": value, "target": goal,
                     "op": "<=" if at_most else ">=", "met": value <= goal if at_most else value >= goal})

    device = result["machine"]["device"]
    for sname, entry in result["settings"].items():
        for m in METHODS[1:]:
            add("adapter_step_ratio", f"{sname}: {m} step / finetune step",
                entry["train"]["ratios"][f"{m}/finetune"], TARGETS["adapter_step_ratio"], True)
        add("fused_inference_ratio", f"{sname}: fused / plain inference time",
            entry["inference"]["ratios"]["fused/plain"], TARGETS["fused_inference_ratio"], True)
        add("loader_speedup", f"{sname}: our loader / reference pipeline (images/s)",
            entry["data"]["ratios"]["ours/reference"], TARGETS["loader_speedup"], False)
        if device == "cpu":
            add("cpu_utilization", f"{sname}: finetune training FLOP/s / float32 matmul peak",
                entry["train"]["finetune"]["utilization"], TARGETS["cpu_utilization"], False)
    full = result["settings"].get("full")
    if device == "cuda" and full is not None:
        name = result["machine"].get("device_name", "")
        batch = full["train"]["batch"]
        candidates = {f"{m}, bf16+channels_last": full["train"][m]["images_per_s"] for m in METHODS}
        candidates.update({k: v["images_per_s"] for k, v in full.get("variants", {}).items()
                           if isinstance(v, dict) and "images_per_s" in v})
        label, best = max(candidates.items(), key=lambda kv: kv[1])
        what = f"full, batch {batch}: training images/s, fastest ({label}) on {name}"
        if "H100" in name and batch >= 256:
            add("h100_images_per_s", what, best, TARGETS["h100_images_per_s"], False)
        else:
            rows.append({"name": "h100_images_per_s", "what": what + ": not an H100 at batch 256+",
                         "value": best, "target": TARGETS["h100_images_per_s"], "op": ">=", "met": None})
    return rows


def write_json(path: str | Path, result: dict) -> None:
    """Atomically (temp file in the same folder, then os.replace); no NaN or inf in the file."""
    from .data.atomic import write_bytes

    write_bytes(path, (json.dumps(result, indent=1, allow_nan=False) + "\n").encode())


# ---------------------------------------------------------------- Markdown


def bench_markdown(source: str | Path | dict) -> str:
    """The README's performance tables, generated from a bench JSON (a path or the dict)."""
    r = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    m = r["machine"]
    device = m.get("device_name", m.get("processor", "")) if m["device"] == "cuda" else m.get("processor", "cpu")
    load = (f"{m['cpu_count']} CPUs, 1-minute load average {m['loadavg_start'][0]:g} at start and "
            f"{m['loadavg_end'][0]:g} at end" if m.get("loadavg_start") and m.get("loadavg_end")
            else f"{m['cpu_count']} CPUs")
    peak = r["peak"]
    out = [f"Measured by `{r['command']}` on {r['created']}: {m['device']} ({device}), torch {m['torch']}, "
           f"{m['torch_threads']} threads, {load}. Medians of {r['plan']['repeats']} repeats after "
           f"{r['plan']['warmup']} warm-up; ratios are medians of per-round ratios. Matmul peak at the start "
           f"{_g(peak['flop_s'])} GFLOP/s ({peak['dtype']}: torch.mm n = {peak['n']} {_g(peak['mm']['flop_s'])}, "
           f"1x1 conv 4096 x {peak['c']} x {peak['c']} {_g(peak['conv1x1']['flop_s'])}); \"of peak\" is against "
           f"the peak re-measured in the training rounds.", ""]
    out += ["| setting | method | batch | images/s | step (ms) | step / finetune | GFLOP/image (train) "
            "| GFLOP/s | of peak | step memory (MiB) |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for s, e in r["settings"].items():
        t = e["train"]
        for meth in (m for m in METHODS if m in t):  # a JSON from before parallel_fused lacks it
            x = t[meth]
            ratio = 1.0 if meth == "finetune" else t["ratios"][f"{meth}/finetune"]
            out.append(f"| {_setting(e)} | {meth} | {t['batch']} | {x['images_per_s']:,.0f} | {1e3 * x['step_s']:.1f} "
                       f"| {ratio:.2f} | {x['train_flops_per_image'] / 1e9:.3f} | {_g(x['train_flop_s'])} "
                       f"| {100 * x['utilization']:.0f}% | {x['memory']['peak_bytes'] / 2**20:,.1f} |")
    out += ["", "| setting | network | batch | images/s | time / plain | GFLOP/image |", "|---|---|--:|--:|--:|--:|"]
    for s, e in r["settings"].items():
        inf = e["inference"]
        for name in ("plain", "unfused", "fused"):
            ratio = 1.0 if name == "plain" else inf["ratios"][f"{name}/plain"]
            out.append(f"| {_setting(e)} | {name} | {inf['batch']} | {inf[name]['images_per_s']:,.0f} | {ratio:.3f} "
                       f"| {inf[name]['forward_flops_per_image'] / 1e9:.3f} |")
    out += ["", "| setting | pipeline | images/s | ours / reference |", "|---|---|--:|--:|"]
    for s, e in r["settings"].items():
        d = e["data"]
        out.append(f"| {_setting(e)} | decoded uint8 cache + batched augmentation ({d['domain']}) "
                   f"| {d['ours']['images_per_s']:,.0f} | {d['ratios']['ours/reference']:.1f} |")
        out.append(f"| {_setting(e)} | PIL JPEG decode + torchvision transforms, DataLoader "
                   f"({d['reference']['workers']} workers) | {d['reference']['images_per_s']:,.0f} | 1.0 |")
        out.append(f"| {_setting(e)} | one-off decode into the cache | {d['ours']['prepare_images_per_s']:,.0f} | |")
    variants = [(e, e["variants"]) for e in r["settings"].values() if "variants" in e]
    if variants:
        out += ["", "| setting | method / variant | images/s | first step (s) |", "|---|---|--:|--:|"]
        for e, v in variants:
            for key, x in v.items():
                if key == "batch":
                    continue
                cells = (f"skipped: {x['error']}", "") if "error" in x else \
                        (f"{x['images_per_s']:,.0f}", f"{x['first_step_s']:.1f}")
                out.append(f"| {_setting(e)} | {key} | {cells[0]} | {cells[1]} |")
    if any("cpu_variants" in e for e in r["settings"].values()):
        from .bench_cpu import cpu_variants_markdown

        out += ["", *cpu_variants_markdown(r)]
    out += ["", "| target | measured | goal | met |", "|---|--:|--:|---|"]
    for t in r["targets"]:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        out.append(f"| {t['what']} | {_num(t['value'])} | {t['op']} {_num(t['target'])} | {met} |")
    return "\n".join(out) + "\n"


def _setting(entry: dict) -> str:
    s = entry["setting"]
    return f"{s['name']} ({s['image']}/{s['crop']} px, w {s['width']:g})"


def _g(flop_s: float) -> str:
    return f"{flop_s / 1e9:,.1f}"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="paperlib bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    p.add_argument("--profile", choices=("smoke", "mini", "full"), action="append",
                   help="setting(s) to measure, repeatable (default: mini and full; --quick: smoke)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per figure (default: 5 on CPU, 10 on CUDA; --quick 2)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls first (default: 2 on CPU, 3 on CUDA; --quick 1)")
    p.add_argument("--batch", type=int, default=None, help=f"batch of every figure (default per device: {BATCH})")
    p.add_argument("--workers", type=int, default=None, help="reference DataLoader workers (default: CPUs, max 8)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 keeps a test fast on a busy machine)")
    p.add_argument("--data-root", default=None, help="a decathlon-1.0 tree (default: generate a MiniDecathlon)")
    p.add_argument("--no-variants", action="store_true",
                   help="skip the variant tables (CUDA: fp32/bf16/compile; CPU: threads/channels_last/compile)")
    p.add_argument("--quick", action="store_true", help="a few seconds: smoke setting, small batches and sizes")
    p.add_argument("--out", help="the JSON to write (atomically)")
    p.add_argument("--markdown", metavar="JSON", help="print the Markdown tables of an existing JSON and exit")
    p.add_argument("--readme", metavar="README", help="with --markdown: also put the tables in README's bench block")
    args = p.parse_args(argv)
    if args.markdown is None and args.out is None:
        p.error("--out FILE.json is required (or --markdown JSON)")
    for name in ("repeats", "warmup", "batch", "workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name in ("warmup", "workers") else 1):
            p.error(f"--{name} must be {'>= 0' if name in ('warmup', 'workers') else '>= 1'}, got {value}")
    return args


def plan_from_args(args: argparse.Namespace) -> Plan:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda, quick = device == "cuda", args.quick

    def pick(given, quick_value, default):
        return given if given is not None else (quick_value if quick else default)

    if quick:  # a few seconds, for the tests: the numbers mean nothing
        sizes = dict(steps=1, min_sample_s=0.01, matmul_n=256, data_images=64, mini_scale=0.1)
    else:
        sizes = dict(steps=10 if cuda else 1, min_sample_s=0.1, matmul_n=8192 if cuda else 2048,
                     data_images=2048, mini_scale=1.0)
    settings = tuple(dict.fromkeys(args.profile or (["smoke"] if quick else ["mini", "full"])))
    return Plan(device=device, settings=settings, batch=args.batch,
                warmup=pick(args.warmup, 1, 3 if cuda else 2), repeats=pick(args.repeats, 2, 10 if cuda else 5),
                workers=pick(args.workers, 0, min(8, os.cpu_count() or 1)), data_root=args.data_root,
                variants=(cuda or not quick) and not args.no_variants, threads=args.threads, **sizes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.markdown is not None:
        tables = bench_markdown(args.markdown)
        print(tables, end="")
        if args.readme:
            from .report import update_readme

            update_readme(args.readme, "bench", tables)
        return 0
    plan = plan_from_args(args)
    if plan.device == "cuda" and not torch.cuda.is_available():
        print("paperlib bench: --device cuda, but no CUDA device is available", file=sys.stderr)
        return 2
    result = run_bench(plan, list(sys.argv[1:] if argv is None else argv))
    write_json(args.out, result)
    print(bench_markdown(result), end="")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
