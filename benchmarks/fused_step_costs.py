"""Where a fused parallel-adapter training step spends its time above the floor (issue 12).

`paperlib bench` gives the ratio of the fused step to finetuning's and the floor, the step of BN
adaptation (every convolution frozen, no adapter: what any adapter step adds its work to). This
script splits what the fused step adds to that floor. It times the engine's step of finetuning,
of the floor and of fused parallel adapters in turns, in one process (paired rounds, as the bench
does). Then it runs the fused step again with `paperlib.model.fused.alpha_grad` wrapped in a timer,
which measures alpha's gradient inside the real step, with the caches as training leaves them.
The rest of the excess is the fused kernel's forward (f + diag_L(alpha)), the autograd Function,
the optimizer over the alphas and `AdaptedConv`'s Python.

    python benchmarks/fused_step_costs.py --setting mini --threads 1      # about a minute
    python benchmarks/fused_step_costs.py --setting mini --threads 2 --out /tmp/costs.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone

import torch

from paperlib.bench.core import (
    BATCH,
    FLOOR,
    FUSED,
    Plan,
    _paired_ratio,
    _timed,
    base_method,
    build_model,
    make_train_step,
    profile_setting,
)
from paperlib.bench.report import write_json
from paperlib.model.fused import alpha_grad
from paperlib.train.runtime import Runtime


def alpha_grad_ms_per_step(step, steps: int) -> float:
    """Milliseconds per step spent in fused.alpha_grad, over `steps` real training steps."""
    spent = [0.0]
    original = alpha_grad

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        return out

    alpha_grad = timed  # looked up by FusedParallelConv.backward at each call
    try:
        for _ in range(steps):
            step()
    finally:
        alpha_grad = original
    return 1e3 * spent[0] / steps


def measure(setting_name: str, batch: int, repeats: int) -> dict:
    setting = profile_setting(setting_name)
    channels_last = Runtime().channels_last_cpu  # the engine's default layout
    steps = {}
    for method in ("finetune", FLOOR, FUSED):
        torch.manual_seed(0)
        steps[method] = make_train_step(build_model(method, setting), base_method(method), setting, batch, "cpu",
                                        amp=False, channels_last=channels_last)
    samples = _timed(steps, Plan(device="cpu", settings=(setting_name,), repeats=repeats, warmup=3,
                                 min_sample_s=0.3))
    ms = {m: 1e3 * statistics.median(s) for m, s in samples.items()}
    alpha_ms = statistics.median(alpha_grad_ms_per_step(steps[FUSED], 8) for _ in range(3))
    excess = ms[FUSED] - ms[FLOOR]
    return {"setting": setting_name, "batch": batch, "threads": torch.get_num_threads(),
            "channels_last": channels_last, "step_ms": ms,
            "ratios": {f"{m}/finetune": _paired_ratio(samples[m], samples["finetune"]) for m in (FLOOR, FUSED)},
            "fused_excess_ms": excess, "alpha_grad_ms": alpha_ms, "other_excess_ms": excess - alpha_ms,
            "finetune_excess_over_floor_ms": ms["finetune"] - ms[FLOOR]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", default="mini", choices=("smoke", "mini", "full"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch", type=int, default=None, help="default: paperlib bench's CPU batch")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", default=None, help="write the figures as JSON (atomically)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = measure(args.setting, args.batch or BATCH["cpu"][args.setting], args.repeats)
    ft = r["step_ms"]["finetune"]
    print(f"{r['setting']}, batch {r['batch']}, {r['threads']} thread(s), channels_last {r['channels_last']}")
    print("| step | ms | / finetune |\n|---|--:|--:|")
    print(f"| finetune | {ft:.1f} | 1.00 |")
    for m in (FLOOR, FUSED):
        print(f"| {m} | {r['step_ms'][m]:.1f} | {r['ratios'][f'{m}/finetune']:.3f} |")
    print(f"fused - floor: {r['fused_excess_ms']:.1f} ms = alpha's gradient {r['alpha_grad_ms']:.1f} ms "
          f"({r['alpha_grad_ms'] / ft:.1%} of finetune's step) + the rest {r['other_excess_ms']:.1f} ms; "
          f"finetune - floor (the weight gradients and their update): {r['finetune_excess_over_floor_ms']:.1f} ms")
    if args.out:
        stamp = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": "python benchmarks/fused_step_costs.py " + " ".join(sys.argv[1:]),
                 "torch": torch.__version__, "loadavg": [round(v, 2) for v in os.getloadavg()]}
        write_json(args.out, {**stamp, **r})


if __name__ == "__main__":
    main()
