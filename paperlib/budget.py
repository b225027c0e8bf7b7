"""What each number of the tables cost, in SGD steps: counted from the plans' specs and the
training-set sizes, never by running anything.

A run's steps are its epochs times its steps per epoch, as the engine counts them (engine._Loop:
len(domains) x the fewest full batches of any of its domains, at most train_limit_batches). An
SVD row's budget per domain adds the steps of the parallel run of that domain it was compressed
from (the adapters trained before the joint SVD, sec. 3.4), so it compares with the parallel
row's like for like. `write_budget_csv` writes figures/budget_<profile>.csv from the cache's
train labels (the same seeded class-stratified subsets as run_data); `expected_batches` predicts
the batches per epoch from the known sizes of the data (data.mini's generation counts, the real
Decathlon's facts) for the plans, which are built without reading any data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd
import torch

from .config import TrainConfig
from .run_data import steps_per_epoch, stratified_subset

BUDGET_COLUMNS = ("experiment", "row", "domain", "fraction", "sgd_steps")
Labels = Callable[[str, str], torch.Tensor]  # (domain, train split) -> the split's labels


# ---------------------------------------------------------------- predicted from the data's sizes


def expected_train_images(study, domain: str, fraction: float) -> int:
    """Images of `domain` a run of `study` trains on at `fraction` (class-stratified: round(f x n_c),
    at least one, per class). Exact for the MiniDecathlon (every class has the same count); the
    real Decathlon's per-class counts are not known without its labels: round(f x n) there."""
    s = study.settings
    splits = ("train", "val") if s.train_split == "trainval" else (s.train_split,)
    if s.mini_scale is not None:
        from .data.mini.generate import resolve_counts

        c = resolve_counts(s.mini_scale)[domain]
        per_class = sum(getattr(c, split) for split in splits)
        return c.classes * (per_class if fraction >= 1.0 else max(1, round(fraction * per_class)))
    from .data.facts import decathlon_counts

    n = sum(decathlon_counts()[domain][split] for split in splits)
    return n if fraction >= 1.0 else max(1, round(fraction * n))


def expected_batches(study, domain: str, fraction: float) -> int:
    """Steps per epoch of a one-domain run of `study` on `fraction` of `domain`."""
    s = study.settings
    steps = max(1, expected_train_images(study, domain, fraction) // s.batch_size)
    return steps if s.limit_batches is None else min(steps, s.limit_batches)


# ---------------------------------------------------------------- counted from the specs and labels


def run_steps(config: TrainConfig, labels: Labels) -> int:
    """SGD steps of one run (`run_data.steps_per_epoch`, as the engine counts), its training subsets drawn as run_data draws them."""
    sizes = []
    for d in config.domains:
        y = labels(d, config.train_split)
        if config.class_fraction < 1.0:
            from .run_data import class_subset

            y = y[torch.isin(y, class_subset(int(y.max()) + 1, config.class_fraction, config.seed))]
        sizes.append(len(stratified_subset(y, config.train_fraction, config.seed)))
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
    """One row per (row, domain, fraction) of a plan: table1 rows are named by their "model"
    label, transfer rows by their method."""
    rows = []
    for tags, config in plan:
        row = tags.get("model", config.method)
        for d in config.domains:
            rows.append({"experiment": experiment, "row": row, "domain": d, "fraction": config.train_fraction,
                         "sgd_steps": domain_steps(config, labels)})
    return rows


def cache_labels(cache_dir: str | Path) -> Labels:
    """(domain, split) -> train labels from the prepared cache (trainval: train then val), cached."""
    from .data import load_split

    memo: dict[tuple[str, str], torch.Tensor] = {}

    def labels(domain: str, split: str) -> torch.Tensor:
        if (domain, split) not in memo:
            memo[(domain, split)] = load_split(cache_dir, domain, split).labels
        return memo[(domain, split)]

    return labels


def budget_table(study, labels: Labels | None = None) -> pd.DataFrame:
    """The budget of Table 1 (its trained rows and the SVD row) and of the transfer experiment
    (Figure 4c-e) at `study`'s profile, from the plans."""
    from . import experiments as ex

    labels = labels or cache_labels(study.cache_dir)
    table1 = ex.table1_plan(study, list(ex.TABLE1_ROWS)) + ex.svd_plan(study)
    rows = budget_rows("table1", table1, labels) + budget_rows("transfer", ex.transfer_plan(study), labels)
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def write_budget_csv(study, folder: str | Path, labels: Labels | None = None) -> Path:
    """figures/budget_<profile>.csv (atomic)."""
    from .data.atomic import write_bytes

    path = Path(folder) / f"budget_{study.profile}.csv"
    write_bytes(path, budget_table(study, labels).to_csv(index=False).encode())
    return path


def steps_by(frame: pd.DataFrame, keys: Mapping[str, object]) -> pd.Series:
    """The sgd_steps of the rows matching `keys` (column -> value)."""
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k] == v
    return frame.loc[mask, "sgd_steps"]


__all__ = ["BUDGET_COLUMNS", "expected_train_images", "expected_batches", "run_steps", "domain_steps",
           "budget_rows", "budget_table", "write_budget_csv", "cache_labels"]
