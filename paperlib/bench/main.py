"""`paperlib bench`: how fast the reproduction trains, infers and feeds itself.

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

`bench_markdown(json)` renders the JSON as the tables of docs/performance.md. The
pieces live in modules of one idea each: `core` (settings, plan, timing, matmul peak, the
training step), `memory`, `pipeline` (the data pipelines), `report` (targets and Markdown) and
`cpu` (the CPU variants); this module runs them and is the command line.

    paperlib bench [--device cpu|cuda] [--profile smoke|mini|full ...] [--repeats N] [--quick]
                   [--batch N] [--workers N] [--data-root DIR] [--no-variants] --out FILE.json
    paperlib bench --markdown FILE.json [--readme docs/performance.md [--block NAME]]

A profile names a setting (image side, crop, width); the default measures mini and full.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone

import torch

from paperlib.bench.core import (
    BATCH,
    DOMAIN,
    FUSED,
    SCHEMA,
    TIMED,
    Plan,
    Setting,
    _paired_ratio,
    _round_peaks,
    _sync,
    _timed,
    base_method,
    build_model,
    log,
    make_train_step,
    matmul_peak,
    peak_products,
    profile_setting,
)
from paperlib.bench.cpu import bench_cpu_variants
from paperlib.bench.memory import step_memory
from paperlib.bench.pipeline import bench_data
from paperlib.bench.report import bench_markdown, evaluate_targets
from paperlib.core.files import write_json
from paperlib.core.machine import cpu_bf16, processor_name, usable_cores
from paperlib.core.readme_blocks import update_readme
from paperlib.model.adapters import fuse_adapters
from paperlib.model.sizes import count_macs
from paperlib.train.runtime import Runtime

# ---------------------------------------------------------------- 1. training steps


def bench_train(setting: Setting, plan: Plan) -> dict:
    batch = plan.batch_for(setting.name)
    cuda = plan.device == "cuda"
    channels_last = cuda or Runtime().channels_last_cpu  # the layout the engine trains in by default
    x = torch.zeros(1, 3, setting.crop, setting.crop)
    result: dict = {"batch": batch, "amp_bf16": cuda, "channels_last": channels_last,
                    "step_source": _step_source()}
    models, steps, macs = {}, {}, {}
    for method in TIMED:
        torch.manual_seed(0)
        models[method] = build_model(method, setting)
        macs[method] = count_macs(models[method], x, domain=DOMAIN)["total"]
        steps[method] = make_train_step(models[method], base_method(method), setting, batch, plan.device, amp=cuda,
                                        channels_last=channels_last)
    # the peak products take their turn in every round, so utilization is measured under one load
    products = peak_products(plan)
    samples = _timed({**steps, **{f"peak/{name}": fn for name, (fn, _) in products.items()}}, plan)
    peaks = _round_peaks(products, samples, "peak/")
    result["peak_flop_s"] = statistics.median(peaks)
    for method in TIMED:
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
    result["ratios"] = {f"{m}/finetune": _paired_ratio(samples[m], samples["finetune"]) for m in TIMED[1:]}
    return result


def _step_source() -> str:
    return "paperlib.train.step.make_batch + paperlib.train.step.train_step (the engine's own step)"


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
        log(f"{name}: training {', '.join(TIMED)}")
        entry["train"] = bench_train(setting, plan)
        log(f"{name}: " + ", ".join(f"{m} {entry['train'][m]['images_per_s']:,.0f}" for m in TIMED) + " images/s")
        log(f"{name}: inference plain / unfused / fused")
        entry["inference"] = bench_inference(setting, plan)
        log(f"{name}: data pipelines")
        entry["data"] = bench_data(setting, plan)
        log(f"{name}: ours {entry['data']['ours']['images_per_s']:,.0f}, reference "
            f"{entry['data']['reference']['images_per_s']:,.0f} images/s")
        if plan.variants and plan.device == "cuda" and name == plan.settings[-1]:  # compiling takes minutes
            entry["variants"] = bench_variants(setting, plan)
        if plan.variants and plan.device == "cpu":  # every setting: compile matters most for small nets
            log(f"{name}: CPU variants (threads, channels_last, torch.compile, bf16)")
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
            "processor": processor_name(), "usable_cores": usable_cores(), "cpu_bf16": cpu_bf16().to_dict()}
    if plan.device == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
    return info


# ---------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib bench`, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="(default: cuda when available, else cpu)")
    p.add_argument("--profile", choices=("smoke", "mini", "full"), action="append",
                   help="setting(s) to measure, repeatable (default: mini and full; --quick: smoke)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per figure (default: 5 on CPU, 10 on CUDA; --quick 2)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls first (default: 2 on CPU, 3 on CUDA; --quick 1)")
    per_device = "; ".join(f"{device} " + ", ".join(f"{setting} {n}" for setting, n in batches.items())
                           for device, batches in BATCH.items())
    p.add_argument("--batch", type=int, default=None, help=f"batch of every figure (default: per device, {per_device})")
    p.add_argument("--workers", type=int, default=None,
                   help="reference DataLoader workers (default: CPUs, max 8; --quick 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 keeps a test fast on a busy machine)")
    p.add_argument("--data-root", default=None, help="a decathlon-1.0 tree (default: generate a MiniDecathlon)")
    p.add_argument("--no-variants", action="store_true",
                   help="skip the variant tables (CUDA: fp32/bf16/compile; CPU: threads/channels_last/compile)")
    p.add_argument("--quick", action="store_true", help="a few seconds: smoke setting, small batches and sizes")
    p.add_argument("--out", help="the JSON to write (atomically); required unless --markdown (default: none)")
    p.add_argument("--markdown", metavar="JSON",
                   help="print the Markdown tables of an existing JSON and exit (default: measure)")
    p.add_argument("--readme", metavar="README",
                   help="with --markdown: also put the tables in a block of README (default: print only)")
    p.add_argument("--block", default="bench",
                   help="with --readme: the block's name (default: %(default)s; docs/performance.md has bench and bench-h100)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
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
            update_readme(args.readme, args.block, tables)
        return 0
    plan = plan_from_args(args)
    if plan.device == "cuda" and not torch.cuda.is_available():
        print("paperlib bench: --device cuda, but no CUDA device is available", file=sys.stderr)
        return 2
    result = run_bench(plan, list(sys.argv[1:] if argv is None else argv))
    write_json(args.out, result, allow_nan=False)
    print(bench_markdown(result), end="")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
