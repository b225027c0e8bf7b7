"""What each number of the tables cost, in SGD steps: counted from the plans' specs and the
training-set sizes, never by running anything.

A run's steps are its epochs times its steps per epoch, as the engine counts them
(run_data.steps_per_epoch: len(domains) x the fewest full batches of any of its domains, at most
train_limit_batches). An SVD row's budget per domain adds the steps of the parallel run of that
domain it was compressed from (the adapters trained before the joint SVD, sec. 3.4), so it
compares with the parallel row's like for like. `write_budget_csv` writes
figures/budget_<profile>.csv from the cache's train labels (the same seeded class-stratified
subsets as run_data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd
import torch

from paperlib.core.files import write_bytes
from paperlib.data import load_split
from paperlib.series.plans import TABLE1_ROWS, svd_plan, table1_plan, transfer_plan
from paperlib.train.run_data import class_subset, steps_per_epoch, stratified_subset
from paperlib.train.spec import TrainConfig

BUDGET_COLUMNS = ("experiment", "row", "domain", "fraction", "replicate", "sgd_steps")


Labels = Callable[[str, str], torch.Tensor]  # (domain, train split) -> the split's labels


def run_steps(config: TrainConfig, labels: Labels) -> int:
    """SGD steps of one run (`run_data.steps_per_epoch`, as the engine counts), its training subsets drawn as run_data draws them."""
    sizes = []
    for d in config.domains:
        y = labels(d, config.train_split)
        if config.class_fraction < 1.0:
            y = y[torch.isin(y, class_subset(int(y.max()) + 1, config.class_fraction, config.subset_seed))]
        sizes.append(len(stratified_subset(y, config.train_fraction, config.subset_seed)))
    return config.epochs * steps_per_epoch(config, sizes)


def domain_steps(config: TrainConfig, labels: Labels) -> int:
    """The steps behind one number of a row: the run's, plus, for method svd, those of the
    upstream parallel run of the same domain (trained before the joint SVD)."""
    steps = run_steps(config, labels)
    if config.method == "svd":
        steps += sum(run_steps(u, labels) for u in config.upstream
                     if u.method == "parallel" and u.domains == config.domains)
    return steps


def budget_rows(experiment: str, plan: Iterable[tuple[dict, TrainConfig]], labels: Labels) -> list[dict]:
    """One row per (row, domain, fraction, replicate) of a plan: table1 rows are named by their "model"
    label, transfer rows by their method."""
    rows = []
    for tags, config in plan:
        row = tags.get("model", config.method)
        for d in config.domains:
            rows.append({"experiment": experiment, "row": row, "domain": d, "fraction": config.train_fraction,
                         "replicate": tags.get("replicate", 0), "sgd_steps": domain_steps(config, labels)})
    return rows


def cache_labels(cache_dir: str | Path) -> Labels:
    """(domain, split) -> train labels from the prepared cache (trainval: train then val), cached."""
    memo: dict[tuple[str, str], torch.Tensor] = {}

    def labels(domain: str, split: str) -> torch.Tensor:
        if (domain, split) not in memo:
            memo[(domain, split)] = load_split(cache_dir, domain, split).labels
        return memo[(domain, split)]

    return labels


def budget_table(study, labels: Labels | None = None) -> pd.DataFrame:
    """The budget of Table 1 (its trained rows and the SVD row) and of the transfer experiment
    (Figure 4c-e) at `study`'s profile, from the plans."""
    labels = labels or cache_labels(study.cache_dir)
    table1 = table1_plan(study, list(TABLE1_ROWS)) + svd_plan(study)
    rows = budget_rows("table1", table1, labels) + budget_rows("transfer", transfer_plan(study), labels)
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def write_budget_csv(study, folder: str | Path, labels: Labels | None = None) -> Path:
    """figures/budget_<profile>.csv (atomic)."""
    path = Path(folder) / f"budget_{study.profile}.csv"
    write_bytes(path, budget_table(study, labels).to_csv(index=False).encode())
    return path


def steps_by(frame: pd.DataFrame, keys: Mapping[str, object]) -> pd.Series:
    """The sgd_steps of the rows matching `keys` (column -> value)."""
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k] == v
    return frame.loc[mask, "sgd_steps"]
