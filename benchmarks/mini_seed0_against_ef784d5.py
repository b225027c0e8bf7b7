"""Seed 0 of the Finetuning and Parallel rows (this store) against figures/table1_mini.csv as
committed at ef784d5 (the single-seed series): same specs, so the same numbers if the moves kept
behaviour. Exact comparison of the float accuracies, per domain."""

import io
import subprocess

import pandas as pd

from paperlib.report.table1 import COLUMN_OF, collect, table1_long
from paperlib.series.study import Study

study = Study(profile="mini")
long = table1_long(collect(study))
old = pd.read_csv(io.StringIO(subprocess.run(["git", "show", "ef784d5:figures/table1_mini.csv"], capture_output=True,
                                             text=True, check=True).stdout))
old = old[old["source"] == "ours"].set_index("model")
same = differ = 0
for model in ("Finetuning", "Parallel Res. adapt."):
    ours = long[(long["model"] == model) & (long["seed"] == 0)]
    for domain, acc in zip(ours["domain"], ours["accuracy"]):
        then = old.loc[model, COLUMN_OF[domain]]
        same += acc == then
        differ += acc != then
        if acc != then:
            print("differs", model, domain, acc, then)
print(f"seed 0 against ef784d5's table1_mini.csv: {same} of {same + differ} accuracies identical")
