"""CPU variants of a training step for `paperlib bench`: thread count, channels_last
and torch.compile (inductor), each against the eager step of the same method.

All variants of a method are timed in turns (`core._timed`), so each ratio "<variant>/eager" is
a median of per-round ratios taken under the same load. torch.compile is judged by its cost per
training: compile_s (its first step less a compiled step) against gain_per_step_s (eager step
less compiled step); break_even_steps = compile_s / gain_per_step_s, null when it gains nothing.
A variant that fails (typically compile: no compiler, a dynamo error) is recorded, not raised.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from paperlib.bench.core import (
    FUSED,
    Plan,
    Setting,
    _paired_ratio,
    _timed,
    base_method,
    build_model,
    log,
    make_train_step,
)

CPU_VARIANTS = {  # name -> (torch threads: None = the run's, channels_last, torch.compile, bf16 autocast)
    "eager": (None, False, False, False),
    "threads1": (1, False, False, False),
    "threads2": (2, False, False, False),
    "channels_last": (None, True, False, False),
    "threads1+channels_last": (1, True, False, False),  # how the series' workers train
    "compile": (None, False, True, False),
    "bf16": (None, False, False, True),  # TrainConfig.cpu_bf16; emulated (slow) without native bf16
    "threads1+channels_last+bf16": (1, True, False, True),  # the workers, with it
}


def _with_threads(step: Callable[[], None], threads: int | None) -> Callable[[], None]:
    """The step run with `threads` torch threads (the run's count restored after each call)."""
    if threads is None:
        return step

    def run() -> None:
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            step()
        finally:
            torch.set_num_threads(saved)

    return run


def bench_cpu_variants(setting: Setting, plan: Plan, methods=("finetune", FUSED)) -> dict:
    """For each method: every variant of CPU_VARIANTS, timed in turns; ratios against eager."""
    batch = plan.batch_for(setting.name)
    result: dict = {"batch": batch, "run_threads": torch.get_num_threads()}
    for method in methods:
        steps, first = {}, {}
        try:
            for name, (threads, channels_last, compiled, bf16) in CPU_VARIANTS.items():
                key = f"{method}/{name}"
                try:
                    torch.manual_seed(0)
                    step = make_train_step(build_model(method, setting), base_method(method), setting, batch, "cpu",
                                           amp=bf16, channels_last=channels_last, compile=compiled)
                    step = _with_threads(step, threads)
                    start = time.perf_counter()
                    step()  # the first call compiles
                    first[key] = time.perf_counter() - start
                    steps[key] = step
                except Exception as err:  # noqa: BLE001 - compile fails in many ways; record why
                    first_line = (str(err).splitlines() or [""])[0][:300]
                    result[key] = {"error": f"{type(err).__name__}: {first_line}"}
                    log(f"{setting.name} {key}: skipped ({result[key]['error']})")
            samples = _timed(steps, plan)
        finally:
            torch.compiler.reset()  # drop the compiled graphs before the next model
        eager = f"{method}/eager"
        for key, times in samples.items():
            median = statistics.median(times)
            result[key] = {"step_s": median, "samples_s": times, "images_per_s": batch / median,
                           "first_step_s": first[key], "ratio_to_eager": _paired_ratio(times, samples[eager])}
            log(f"{setting.name} {key}: {batch / median:,.0f} images/s ({result[key]['ratio_to_eager']:.2f}x eager)")
        compiled = result.get(f"{method}/compile", {})
        if "step_s" in compiled:
            compile_s = compiled["first_step_s"] - compiled["step_s"]
            gain = result[eager]["step_s"] - compiled["step_s"]
            compiled.update(compile_s=compile_s, gain_per_step_s=gain,
                            break_even_steps=compile_s / gain if gain > 0 else None)
    # each variant's adapter step against finetuning's (medians of the same run, separate rounds)
    result["ratios_to_finetune"] = {
        f"{method}/{name}": result[f"{method}/{name}"]["step_s"] / result[f"finetune/{name}"]["step_s"]
        for method in methods if method != "finetune" for name in CPU_VARIANTS
        if "step_s" in result.get(f"{method}/{name}", {}) and "step_s" in result.get(f"finetune/{name}", {})}
    return result


def cpu_variants_markdown(r: dict) -> list[str]:
    """The CPU variants table of `report.bench_markdown`."""
    out = ["| setting | method / variant | images/s | step / eager | step / finetune's | first step (s) "
           "| compile (s) | break-even steps |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for e in r["settings"].values():
        s = e["setting"]
        label = f"{s['name']} ({s['image']}/{s['crop']} px, w {s['width']:g})"
        variants = e.get("cpu_variants", {})
        to_finetune = variants.get("ratios_to_finetune", {})
        for key, x in variants.items():
            if not isinstance(x, dict) or key == "ratios_to_finetune":
                continue
            if "error" in x:
                out.append(f"| {label} | {key} | skipped: {x['error']} | | | | | |")
                continue
            compile_s = f"{x['compile_s']:.1f}" if "compile_s" in x else ""
            even = x.get("break_even_steps")
            even = "" if "compile_s" not in x else ("never" if even is None else f"{even:,.0f}")
            ratio = f"{to_finetune[key]:.2f}" if key in to_finetune else ""
            out.append(f"| {label} | {key} | {x['images_per_s']:,.0f} | {x['ratio_to_eager']:.2f} | {ratio} "
                       f"| {x['first_step_s']:.1f} | {compile_s} | {even} |")
    return out
