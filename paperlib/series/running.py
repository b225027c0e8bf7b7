"""Plans run through the results store: `run_all` binds each spec to the data's content identity,
trains what the store lacks (upstream runs first; side by side in workers where the study says
so) and returns a tidy DataFrame, one row per run and domain; `load_all` only reads the store
and lists what is missing. Which checkpoint the tables report is chosen here, once."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from paperlib.data.domains import SOURCE
from paperlib.series.study import Study, prepare_data
from paperlib.series.workers import side_by_side, study_slots, train_side_by_side
from paperlib.train.identity import is_prepared
from paperlib.train.run import run_or_load
from paperlib.train.spec import TrainConfig

# which weights the tables report: "last" (the last epoch's) or "best_val" (the epoch best on
# validation, as the authors' code keeps). Last: the full profile trains on train+val, so it has no
# validation split to choose with, and the paper's test numbers (trained on train+val) cannot be
# best-on-validation either; both are in every record (docs/departures.md, "What the tables report").
REPORTED_CHECKPOINT = "last"


def run_all(study: Study, configs: Iterable[tuple[dict, TrainConfig]], *,
            progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Run (or load) each spec, upstream runs first; one row per (run, domain) with the labels
    given beside it. The data is prepared first if it is not (the notebooks can run alone)."""
    configs = list(configs)
    _train_side_by_side(study, configs, progress)
    rows = []
    for i, (labels, config) in enumerate(configs, 1):
        if not _prepared_for(study, config):
            prepare_data(study)
        bound = study.bind(config)
        _train_upstream(study, bound, progress)
        if progress is not None and not study.store.exists(bound):
            progress(f"[{i}/{len(configs)}] training {labels} ({config.method}, {'+'.join(config.domains)})")
        rows += _rows(study, labels, bound, run_or_load(bound, study.store, study.runtime))
    return pd.DataFrame(rows)


def _train_side_by_side(study: Study, configs: list[tuple[dict, TrainConfig]],
                        progress: Callable[[str], None] | None) -> None:
    """Where the study's slots hold more than one training at once: train the runs the store
    lacks in worker processes first (series.workers), so that `run_all`'s loop only loads them."""
    slots = study_slots(study)
    if side_by_side(slots) <= 1:
        return

    if not all(_prepared_for(study, config) for _, config in configs):
        prepare_data(study)
    bound = [study.bind(config) for _, config in configs]
    train_side_by_side(study.store, study.runtime, bound, slots, progress=progress)


def load_all(study: Study, configs: Iterable[tuple[dict, TrainConfig]]) -> tuple[pd.DataFrame, list[TrainConfig]]:
    """The stored runs of a plan as `run_all`'s rows, and the (bound) specs that are not stored.
    Never trains, never prepares data."""
    rows, missing, columns = [], [], {}
    for labels, config in configs:
        columns.update(dict.fromkeys(labels))
        bound = study.bind(config)
        record = study.store.load(bound)
        if record is None:
            missing.append(bound)
        else:
            rows += _rows(study, labels, bound, record)
    columns.update(dict.fromkeys(["domain", "method", "accuracy", "params_adapter", "wall_time_s", "run_id"]))
    return (pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns))), missing


def _prepared_for(study: Study, config: TrainConfig) -> bool:
    """Whether the cache holds every entry `config` and its upstream runs read."""
    return (is_prepared(study.cache_dir, config.domains, config.data_splits)
            and all(_prepared_for(study, source) for source in config.upstream))


def _train_upstream(study: Study, config: TrainConfig, progress: Callable[[str], None] | None) -> None:
    """Train the runs `config` starts from (pretraining, the adapters SVD compresses) if the
    store lacks them, theirs first."""
    for source in config.upstream:
        if study.store.exists(source):
            continue
        _train_upstream(study, source, progress)
        if progress is not None:
            progress(f"first training what it starts from: {source.method} on {'+'.join(source.domains)}")
        run_or_load(source, study.store, study.runtime)


def reported_metrics(record: dict) -> dict:
    """The metrics the tables and claims show: those of `REPORTED_CHECKPOINT` (the last epoch's;
    the record's "metrics_best", with the best-on-validation weights, come beside them as the
    acc_best_<split> columns)."""
    if REPORTED_CHECKPOINT == "best_val" and record.get("metrics_best"):
        return record["metrics_best"]
    return record["metrics"]


def _rows(study: Study, labels: dict, config: TrainConfig, record: dict) -> list[dict]:
    rows = []
    for domain in config.domains:
        metrics = reported_metrics(record).get(domain, {})
        counts = record["parameters"]["per_domain"].get(domain, {})
        acc = {f"acc_{split}": (float("nan") if v is None else v) for split, v in metrics.items()}
        best = (record.get("metrics_best") or {}).get(domain, {})
        acc.update({f"acc_best_{split}": (float("nan") if v is None else v) for split, v in best.items()})
        rows.append({**labels, "domain": domain, "method": config.method, **acc,
                     "accuracy": _nan(metrics.get(_reported_split(study, config, domain))),
                     "params_adapter": counts.get("adapter"), "wall_time_s": record["wall_time_s"],
                     "run_id": record["run_id"]})
    return rows


def _reported_split(study: Study, config: TrainConfig, domain: str) -> str:
    """The profile's report split where the run evaluated it (a validation-phase run evaluates val
    only); val for the source domain (the paper's ImageNet number)."""
    split = study.settings.report_split
    return split if domain != SOURCE and split in config.eval_splits else "val"


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
