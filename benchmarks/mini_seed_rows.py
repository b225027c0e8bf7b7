"""Ad hoc, outside the series, at mini with its 3 seeds: Table 1's Finetuning and Parallel rows
(float32, the default), the distilled parallel row (its teachers: those Finetuning runs), and the
bf16 twins of the first two with their own source network (notebook 09's precision plan, where the
CPU has native bf16); then the paired differences the claims and the precision rule use
(report.verdicts, report.noise). The specs are the series' own, stored in the series' store
(results/mini), so a later `make reproduce` loads these runs instead of training them.

    python benchmarks/mini_seed_rows.py | grep -v " started \| done " > benchmarks/mini_seed_rows.out

The means per seed are over the nine targets (the claims' pairs); Table 1's mean also counts the
source's column (ImNet)."""

import json
import subprocess
import time

import pandas as pd

from paperlib.core.machine import cpu_bf16
from paperlib.report.noise import precision_table
from paperlib.report.table1 import collect, table1_long
from paperlib.report.verdicts import paired_on
from paperlib.series.plans import DISTILLED_ROW, SEED_ROWS, precision_plan, table1_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study, prepare_data

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 20)
study = Study(profile="mini")
print("commit", subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
      "bf16_on_cpu", study.bf16_on_cpu, "bf16_twins", study.bf16_twins, cpu_bf16().describe(), "slots", study.slots, flush=True)
times = {}
for name, plan in [("data", None), ("float32 rows", lambda: table1_plan(study, list(SEED_ROWS))),
                   ("distilled", lambda: table1_plan(study, [DISTILLED_ROW])), ("bf16 twins", lambda: precision_plan(study))]:
    t = time.time()
    if plan is None:
        prepare_data(study)
    else:
        p = plan()
        print(name, len(p), "trainings (upstream extra)", flush=True)
        run_all(study, p, progress=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    times[name] = round(time.time() - t)
    print("TIME", name, times[name], "s", flush=True)
results = collect(study)
long = table1_long(results)
per_seed = long.groupby(["model", "seed"])["accuracy"].mean().unstack()
print(per_seed.round(2).to_string())
for a, b in [(DISTILLED_ROW, "Finetuning"), ("Parallel Res. adapt.", "Finetuning"), (DISTILLED_ROW, "Parallel Res. adapt.")]:
    d = paired_on(long, "model", a, b, keys=("seed", "domain"))
    print(f"{a} - {b}: {d.mean:+.2f} {d.interval_text()} {d.verdict}")
print(precision_table(results).to_string())
print("TIMES", json.dumps(times))
