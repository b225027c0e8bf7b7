"""The experiments of the paper's section 4 as plans of run specs (`TrainConfig`s), run through
the results store.

A plan is a list of (labels, spec) built from a `Study` alone, without reading any data; an
adaptation's spec holds the spec of the network it starts from (`pretrained`). `run_all` binds
each spec to the data's content identity, trains what the store lacks (upstream runs first) and
returns a tidy DataFrame (one row per run and domain); `load_all` only reads the store and
lists what is missing. Which notebook runs which plans is declared once, in series.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import pandas as pd

from .config import TrainConfig, svd_rank_fields
from .identity import is_prepared
from .profiles import Profile
from .study import Study, domain_classes, prepare_data, project_root  # noqa: F401 (the notebooks call ex.<name>)

SOURCE = "imagenet12"
# which weights the tables report: "last" (the last epoch's) or "best_val" (the epoch best on
# validation, as the authors' code keeps). Last: the full profile trains on train+val, so it has no
# validation split to choose with, and the paper's test numbers (trained on train+val) cannot be
# best-on-validation either; both are in every record (README, "departs from the paper").
REPORTED_CHECKPOINT = "last"
TARGETS = ("aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb", "vgg-flowers", "omniglot", "svhn", "ucf101")
# Table 1's rows that this reproduction trains, and how (method, pretrained network, placement)
TABLE1_ROWS = {
    "Feature extractor": ("head", "plain", "all"),  # frozen network, a head per domain (Rebuffi et al. 2017)
    "BN adaptation": ("bn", "plain", "all"),  # per-domain BNs and head (Rebuffi et al. 2017)
    "Finetuning": ("finetune", "plain", "all"),
    "Series Res. adapt.": ("series", "series", "all"),
    "Parallel Res. adapt.": ("parallel", "plain", "all"),
    "Parallel (early)": ("parallel", "plain", "early"),
    "Parallel (mid)": ("parallel", "plain", "mid"),
    "Parallel (late)": ("parallel", "plain", "late"),
    "Parallel (half)": ("parallel", "plain", "half"),
    "LoRA-conv (peft)": ("lora", "plain", "all"),  # not in the paper: rank from front.row_rank (issue 14)
}


# ---------------------------------------------------------------- configs


def base_config(study: Study, **fields) -> TrainConfig:
    """A spec with the profile's sizes (profiles.Profile.train_defaults), the study's seed, then `fields`."""
    return TrainConfig.from_dict({**study.settings.train_defaults(), "seed": study.seed, **fields})


def pretrain_config(study: Study, *, width_factor: float = 1.0, class_fraction: float = 1.0,
                    adapter: str | None = None, source_fraction: float = 1.0) -> TrainConfig:
    """ResNet-26 trained from scratch on the source domain (sec. 4.1); with series adapters in
    it for the series experiments (they must be there at pretraining, sec. 4.1). With
    `source_fraction` < 1, on that class-stratified fraction of the source's images (every class
    kept), for the same number of epochs (notebook 09 states why)."""
    s = study.settings
    return base_config(study, method="scratch", domains=(SOURCE,), adapter=adapter, epochs=s.pretrain_epochs,
                       width=s.width * width_factor, class_fraction=class_fraction, train_fraction=source_fraction,
                       train_split="train", eval_splits=_source_eval_splits(s, width_factor, class_fraction,
                                                                            source_fraction))


def _source_eval_splits(s: Profile, width_factor: float, class_fraction: float,
                        source_fraction: float = 1.0) -> tuple[str, ...]:
    """val (the paper's ImageNet number); plus test for the networks of Table 1 where the test
    labels are not released, so that every row's submission holds ImageNet's predictions."""
    main_network = (width_factor, class_fraction, source_fraction) == (1.0, 1.0, 1.0)
    return ("val",) if s.test_labels or not main_network else ("val", "test")


def adapt_config(study: Study, method: str, domain: str, pretrained: TrainConfig, **fields) -> TrainConfig:
    """Train `domain` from a pretrained source network with `method` (finetune, series, parallel, bn, head)."""
    s = study.settings
    values = dict(method=method, domains=(domain,), pretrained=(pretrained,),
                  width=pretrained.width, epochs=s.adapt_epochs, train_split=s.train_split,
                  eval_splits=s.eval_splits)
    if method == "finetune" and pretrained.adapter == "series":
        values["adapter"] = "series"  # finetune the network with its adapters
    return base_config(study, **{**values, **fields})


def svd_config(study: Study, domain: str, parallel_runs: Sequence[TrainConfig], rank: float | int | None
               ) -> TrainConfig:
    """gamma_t of `domain` fine-tuned after the joint SVD of the parallel adapters of every
    domain in `parallel_runs` (sec. 3.4), for the rest of the schedule those runs began
    (`svd_split`): the learning rate continues where they stopped, it does not restart."""
    s = study.settings
    before, after = svd_split(s.adapt_epochs)
    schedule = dict(epochs=after, schedule_epochs=s.adapt_epochs, schedule_start=before) if before else {}
    return base_config(study, method="svd", domains=(domain,), svd_domains=tuple(c.domains[0] for c in parallel_runs),
                       pretrained=tuple(parallel_runs), **svd_rank_fields(rank),
                       width=parallel_runs[0].width, train_split=s.train_split, eval_splits=s.eval_splits,
                       **{"epochs": s.adapt_epochs, **schedule})


def svd_split(epochs: int, first_milestone: float = 80 / 120) -> tuple[int, int]:
    """(epochs of the parallel runs before the joint SVD, epochs of gamma_t after it) of an SVD
    row with the parallel row's budget of `epochs`: compress at the first learning-rate milestone
    (80 of 120 epochs), when the adapters have had the whole large-lr phase; the gamma_t then
    fine-tune through the small-lr rest (sec. 3.4 fine-tunes them after the SVD; the paper gives
    no length). One epoch cannot be split: (0, epochs), the SVD then starts from the parallel
    row's own runs and the row gets twice the budget (smoke, dry runs)."""
    if epochs < 2:
        return 0, epochs
    before = min(epochs - 1, max(1, int(round(first_milestone * epochs))))
    return before, epochs - before


def svd_parallel_config(study: Study, domain: str) -> TrainConfig:
    """The parallel run an SVD row compresses: the Table 1 parallel run's spec, stopped at
    `svd_split`'s first part of the same schedule (the Table 1 run itself when it cannot split)."""
    s = study.settings
    before, _ = svd_split(s.adapt_epochs)
    fields = dict(epochs=before, schedule_epochs=s.adapt_epochs) if before else {}
    return adapt_config(study, "parallel", domain, pretrain_config(study), placement="all", **fields)


# ---------------------------------------------------------------- running and loading


def run_all(study: Study, configs: Iterable[tuple[dict, TrainConfig]], *,
            progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Run (or load) each spec, upstream runs first; one row per (run, domain) with the labels
    given beside it. The data is prepared first if it is not (the notebooks can run alone)."""
    from .train import run_or_load

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
    """With `study.run_workers` > 1: train the runs the store lacks in worker processes first
    (parallel_runs), so that `run_all`'s loop only loads them."""
    if study.run_workers <= 1:
        return
    from .parallel_runs import train_side_by_side

    if not all(_prepared_for(study, config) for _, config in configs):
        prepare_data(study)
    bound = [study.bind(config) for _, config in configs]
    train_side_by_side(study.store, study.runtime, bound, study.run_workers, progress=progress)


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
    from .train import run_or_load

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


# ---------------------------------------------------------------- the experiments


def pretraining_plan(study: Study, *, width_factors: Sequence[float] | None = None,
                     class_fractions: Sequence[float] | None = None) -> list[tuple[dict, TrainConfig]]:
    s = study.settings
    plan = [({"network": "plain", "width_factor": 1.0, "class_fraction": 1.0}, pretrain_config(study)),
            ({"network": "series", "width_factor": 1.0, "class_fraction": 1.0}, pretrain_config(study, adapter="series"))]
    for f in width_factors if width_factors is not None else s.width_factors:
        if f != 1.0:
            plan.append(({"network": "plain", "width_factor": f, "class_fraction": 1.0},
                         pretrain_config(study, width_factor=f)))
    for c in class_fractions if class_fractions is not None else s.class_fractions:
        if c != 1.0:
            plan.append(({"network": "plain", "width_factor": 1.0, "class_fraction": c},
                         pretrain_config(study, class_fraction=c)))
    return plan


def table1_plan(study: Study, rows: Sequence[str], targets: Sequence[str] = TARGETS,
                **fields) -> list[tuple[dict, TrainConfig]]:
    """Table 1's rows (`TABLE1_ROWS` names) for each target domain."""
    networks = {"plain": pretrain_config(study), "series": pretrain_config(study, adapter="series")}
    plan = []
    for row in rows:
        if row not in TABLE1_ROWS:
            raise ValueError(f"unknown Table 1 row {row!r}; valid rows: {', '.join(TABLE1_ROWS)}")
        method, network, placement = TABLE1_ROWS[row]
        row_fields = fields
        if method == "lora":  # the rank within the parallel row's budget, computed from the modules
            from .front import row_rank

            row_fields = {"lora_rank": row_rank(study), **fields}
        for d in targets:
            plan.append(({"model": row}, adapt_config(study, method, d, networks[network], placement=placement,
                                                      **row_fields)))
    return plan


def series_a_posteriori_plan(study: Study, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Series adapters added to a network pretrained without them (sec. 4.1: -1.73 points)."""
    plain = pretrain_config(study)
    return [({"model": "Series (a posteriori)"}, adapt_config(study, "series", d, plain)) for d in targets]


def uniform_decay_plan(study: Study, decay: float, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Parallel adapters with one weight decay for every domain, against the paper's per-domain one."""
    plain = pretrain_config(study)
    return [({"model": f"Parallel, decay {decay:g} everywhere"},
             adapt_config(study, "parallel", d, plain, adapter_weight_decay=((d, decay),))) for d in targets]


def width_dropout_plan(study: Study, *, domain: str = "cifar100", width_factors: Sequence[float] | None = None,
                       dropout: float = 0.5, few_fraction: float | None = None) -> list[tuple[dict, TrainConfig]]:
    """Figure 4a: parallel adapters with and without dropout on pretrained networks of several
    widths, on the full training set and on a few images per class."""
    s = study.settings
    plan = []
    for f in width_factors if width_factors is not None else s.width_factors:
        net = pretrain_config(study, width_factor=f)
        for p in (0.0, dropout):
            for subset, fraction in (("full", 1.0), ("few", few_fraction or s.few_fraction)):
                plan.append(({"width_factor": f, "dropout": p > 0, "subset": subset},
                             adapt_config(study, "parallel", domain, net, dropout=p, train_fraction=fraction)))
    return plan


def svd_plan(study: Study, *, rank: float | int | None = None,
             targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    parallel = [svd_parallel_config(study, d) for d in targets]
    return [({"model": "Parallel SVD"}, svd_config(study, d, parallel, rank)) for d in targets]


def transfer_plan(study: Study, *, domains: Sequence[str] | None = None, fractions: Sequence[float] | None = None,
                  methods: Sequence[str] = ("finetune", "series", "parallel")) -> list[tuple[dict, TrainConfig]]:
    """Figure 4c-e: each method on growing fractions of the training data (sec. 4.2)."""
    s = study.settings
    networks = {"plain": pretrain_config(study), "series": pretrain_config(study, adapter="series")}
    plan = []
    for d in domains if domains is not None else s.transfer_domains:
        for frac in fractions if fractions is not None else s.transfer_fractions:
            epochs = transfer_epochs(study, d, frac)
            for m in methods:
                net = networks["series" if m == "series" else "plain"]
                plan.append(({"fraction": frac}, adapt_config(study, m, d, net, train_fraction=frac, epochs=epochs)))
    return plan


def transfer_epochs(study: Study, domain: str, fraction: float) -> int:
    """Epochs of every method on `fraction` of `domain`'s training set (Figure 4c-e): the
    profile's epochs, or more where they give fewer than half the SGD steps of the full-data run
    (steps = epochs x batches per epoch, from `budget.expected_train_counts`, no data read):
    epochs = max(E, ceil(E x full batches / (2 x fraction batches))). The same for every method,
    so finetuning and adapters get equal steps at each (domain, fraction)."""
    from .budget import expected_batches

    s = study.settings
    full = expected_batches(study, domain, 1.0)
    part = expected_batches(study, domain, fraction)
    return max(s.adapt_epochs, math.ceil(s.adapt_epochs * full / (2 * part)))


def class_plan(study: Study, *, domain: str = "cifar100",
               class_fractions: Sequence[float] | None = None) -> list[tuple[dict, TrainConfig]]:
    """Figure 4b: parallel adapters on networks pretrained with fewer source classes (sec. 4.3)."""
    s = study.settings
    return [({"class_fraction": c}, adapt_config(study, "parallel", domain, pretrain_config(study, class_fraction=c)))
            for c in (class_fractions if class_fractions is not None else s.class_fractions)]


def source_strength_plan(study: Study, *, targets: Sequence[str] | None = None,
                         source_fractions: Sequence[float] = (1 / 16, 1 / 4, 1.0),
                         methods: Sequence[str] = ("finetune", "parallel", "bn")) -> list[tuple[dict, TrainConfig]]:
    """Notebook 09 (beyond the paper): each method on each target, from source networks pretrained
    on growing fractions of the source images (`pretrain_config(source_fraction=...)`). The runs
    at fraction 1 are Table 1's (same specs, so trained once)."""
    targets = targets if targets is not None else study.settings.transfer_domains
    plan = []
    for fraction in source_fractions:
        net = pretrain_config(study, source_fraction=fraction)
        for d in targets:
            for m in methods:
                plan.append(({"source_fraction": fraction}, adapt_config(study, m, d, net)))
    return plan


def source_images(study: Study, fraction: float) -> int:
    """Source training images a pretraining on `fraction` of them sees, from the generator's
    counts (MiniDecathlon: every class keeps round(fraction x its images), at least one, as
    run_data.stratified_subset draws them) or the Decathlon's (rounded: its classes are uneven)."""
    s = study.settings
    if s.mini_scale is None:
        from .data.facts import decathlon_counts

        return round(decathlon_counts()[SOURCE]["train"] * fraction)
    from .data.mini.generate import resolve_counts

    counts = resolve_counts(s.mini_scale)[SOURCE]
    return counts.classes * max(1, round(counts.train * fraction))
