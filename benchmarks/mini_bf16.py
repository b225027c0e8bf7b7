"""Whether bf16 autocast on the CPU could serve the series: the accuracy and the step time, outside
the series (which trains float32).

The accuracy: Table 1's Finetuning and Parallel rows once more under bf16 autocast, each adapted
from its replicate's float32 source network (the series' own sources: only the adaptation's
precision differs), against the series' float32 runs of the same rows, paired by replicate: per
replicate the mean over the targets of bf16 - float32, judged over the replicates by the claims'
rule (report/verdicts.py) as a claim of equality with the margin `verdicts.MARGIN`. The criterion,
fixed before the run: bf16 could serve where both rows are "equivalent".

The speed: the bench's CPU variants of the step as the series' workers train (one thread,
channels-last), bf16 against float32, timed in turns in this run (`bench.cpu`), on this processor.

    python benchmarks/mini_bf16.py --results /root/mini/results --data-root /root/mini/data

The series' float32 runs are loaded from the store (trained here if missing); the bf16 runs are
stored beside them (other specs, other ids).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd

from paperlib.bench.core import FUSED, Plan, profile_setting
from paperlib.bench.cpu import bench_cpu_variants
from paperlib.core.machine import cpu_bf16
from paperlib.report.table1 import table1_long_of
from paperlib.report.verdicts import MARGIN, compare
from paperlib.series.plans import table1_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study

ROWS = ("Finetuning", "Parallel Res. adapt.")
STEPS = {"float32": "threads1+channels_last", "bf16": "threads1+channels_last+bf16"}


def bf16_twins(study: Study) -> list[tuple[dict, object]]:
    """The rows' adaptations under bf16 autocast, from the same float32 sources."""
    return [({**labels, "precision": "bf16"}, dataclasses.replace(config, cpu_bf16=True))
            for labels, config in table1_plan(study, ROWS)]


def accuracy_table(float32: pd.DataFrame, bf16: pd.DataFrame) -> pd.DataFrame:
    """Per row: each precision's mean over the targets and replicates, bf16 - float32 with its
    interval over the replicates, the margin and the verdict."""
    both = pd.concat([table1_long_of(float32).assign(precision="float32"),
                      table1_long_of(bf16).assign(precision="bf16")])
    rows = []
    for model in ROWS:
        frame = both[both["model"] == model]
        d = compare(frame, "precision", "bf16", "float32", side=0, margin=MARGIN)
        means = frame.groupby("precision")["accuracy"].mean()
        rows.append({"row": model, "float32": round(means["float32"], 2), "bf16": round(means["bf16"], 2),
                     "bf16 - float32": round(d.mean, 2), "interval": d.interval_text(), "margin": d.margin_text(),
                     "verdict": d.verdict})
    return pd.DataFrame(rows)


def step_ratios(profile: str) -> dict[str, float]:
    """bf16 step / float32 step of each method, as the series' workers train (one thread)."""
    result = bench_cpu_variants(profile_setting(profile), Plan(device="cpu", settings=(profile,)),
                                methods=("finetune", FUSED))
    return {m: result[f"{m}/{STEPS['bf16']}"]["step_s"] / result[f"{m}/{STEPS['float32']}"]["step_s"]
            for m in ("finetune", FUSED) if "step_s" in result.get(f"{m}/{STEPS['bf16']}", {})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="mini", help="the series' profile (default: mini)")
    parser.add_argument("--results", default=None, help="the series' results store (default: results/)")
    parser.add_argument("--data-root", default=None, help="the series' data root (default: the profile's)")
    parser.add_argument("--no-steps", action="store_true", help="skip the step timing (default: time it)")
    args = parser.parse_args(argv)
    study = Study(profile=args.profile, results_dir=args.results, data_root=args.data_root)
    print(f"{study.replicate_count} replicates; {cpu_bf16().describe()}", flush=True)
    started = time.time()
    float32 = run_all(study, table1_plan(study, ROWS))
    bf16 = run_all(study, bf16_twins(study))
    print(f"trainings and loading: {time.time() - started:.0f} s", flush=True)
    print(accuracy_table(float32, bf16).to_string(index=False))
    if not args.no_steps:
        for method, ratio in step_ratios(args.profile).items():
            print(f"step bf16 / float32, {method}, one thread, channels-last: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
