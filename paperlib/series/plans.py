"""The experiments of the paper's section 4 as plans of run specs (`TrainConfig`s).

A plan is a list of (labels, spec) built from a `Study` alone, without reading any data; an
adaptation's spec holds the spec of the network it starts from (`pretrained`). Running and
loading them is running.py; which notebook runs which plans is declared once, in notebooks.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from paperlib.data.domains import SOURCE, TARGETS
from paperlib.model.lora_budget import matched_rank
from paperlib.series.cost import expected_batches
from paperlib.series.study import Study
from paperlib.train.profiles import Profile, profile_classes
from paperlib.train.spec import TrainConfig, svd_rank_fields

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
    "LoRA-conv (peft)": ("lora", "plain", "all"),  # not in the paper: lora_budget.matched_rank
    # not in the paper: the parallel row's adapters distilled from the Finetuning row's networks
    "Parallel + distillation": ("parallel_distilled", "plain", "all"),
}
DISTILLED_ROW = "Parallel + distillation"
# The distillation term of DISTILLED_ROW (train.distill), fixed before its first run: Li, Liu and
# Bilen's (ICCV 2021) temperature and their weight for every domain but ImageNet.
DISTILL_WEIGHT, DISTILL_TEMPERATURE = 1.0, 4.0


def base_config(study: Study, *, seed: int | None = None, **fields) -> TrainConfig:
    """A spec with the profile's sizes (profiles.Profile.train_defaults), the study's precision on
    the CPU, then `fields`. `seed` (default: the study's) seeds the run's new parameters,
    shuffling and augmentation; its class and image subsets stay the study's (`data_seed`), so
    that the seeds of one experiment train on the same images."""
    seed = study.seed if seed is None else seed
    seeds = {"seed": seed} if seed == study.seed else {"seed": seed, "data_seed": study.seed}
    return TrainConfig.from_dict({**study.settings.train_defaults(), "cpu_bf16": study.bf16_on_cpu, **seeds,
                                  **fields})


def per_seed(study: Study, plan: Callable[[int], list[tuple[dict, TrainConfig]]]) -> list[tuple[dict, TrainConfig]]:
    """`plan(seed)` for every seed of the study's adaptations (`Study.adaptation_seeds`), seed by
    seed, each run labelled with its seed: every adaptation a table, figure or claim uses is
    trained once per seed, from the same source networks and on the same data."""
    return [({**labels, "seed": seed}, config) for seed in study.adaptation_seeds for labels, config in plan(seed)]


def pretrain_config(study: Study, *, width_factor: float = 1.0, class_fraction: float = 1.0,
                    adapter: str | None = None, source_fraction: float = 1.0, seed: int | None = None) -> TrainConfig:
    """ResNet-26 trained from scratch on the source domain (sec. 4.1); with series adapters in
    it for the series experiments (they must be there at pretraining, sec. 4.1). With
    `source_fraction` < 1, on that class-stratified fraction of the source's images (every class
    kept), for the same number of epochs (notebook 09 states why). `seed`: the source's own seed
    (default: the study's; another only where the source's spread is measured)."""
    s = study.settings
    return base_config(study, seed=seed, method="scratch", domains=(SOURCE,), adapter=adapter, epochs=s.pretrain_epochs,
                       width=s.width * width_factor, class_fraction=class_fraction, train_fraction=source_fraction,
                       train_split="train", eval_splits=_source_eval_splits(s, width_factor, class_fraction,
                                                                            source_fraction))


def _source_eval_splits(s: Profile, width_factor: float, class_fraction: float,
                        source_fraction: float = 1.0) -> tuple[str, ...]:
    """val (the paper's ImageNet number); plus test for the networks of Table 1 where the test
    labels are not released, so that every row's submission holds ImageNet's predictions."""
    main_network = (width_factor, class_fraction, source_fraction) == (1.0, 1.0, 1.0)
    return ("val",) if s.test_labels or not main_network else ("val", "test")


def adapt_config(study: Study, method: str, domain: str, source: TrainConfig, *, seed: int | None = None,
                 **fields) -> TrainConfig:
    """Train `domain` from the pretrained `source` network with `method` (finetune, series,
    parallel, bn, head, lora, parallel_distilled: `fields` then give `pretrained` = (source,
    teacher)), seeded by `seed` (default: the study's)."""
    s = study.settings
    values = dict(method=method, domains=(domain,), pretrained=(source,),
                  width=source.width, epochs=s.adapt_epochs, train_split=s.train_split,
                  eval_splits=s.eval_splits)
    if method == "finetune" and source.adapter == "series":
        values["adapter"] = "series"  # finetune the network with its adapters
    return base_config(study, seed=seed, **{**values, **fields})


def svd_config(study: Study, domain: str, parallel_runs: Sequence[TrainConfig], rank: float | int | None, *,
               seed: int | None = None) -> TrainConfig:
    """gamma_t of `domain` fine-tuned after the joint SVD of the parallel adapters of every
    domain in `parallel_runs` (sec. 3.4), for the rest of the schedule those runs began
    (`svd_split`): the learning rate continues where they stopped, it does not restart."""
    s = study.settings
    before, after = svd_split(s.adapt_epochs)
    schedule = dict(epochs=after, schedule_epochs=s.adapt_epochs, schedule_start=before) if before else {}
    return base_config(study, seed=seed, method="svd", domains=(domain,), svd_domains=tuple(c.domains[0] for c in parallel_runs),
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


def svd_parallel_config(study: Study, domain: str, seed: int | None = None) -> TrainConfig:
    """The parallel run an SVD row compresses: the Table 1 parallel run's spec, stopped at
    `svd_split`'s first part of the same schedule (the Table 1 run itself when it cannot split)."""
    s = study.settings
    before, _ = svd_split(s.adapt_epochs)
    fields = dict(epochs=before, schedule_epochs=s.adapt_epochs) if before else {}
    return adapt_config(study, "parallel", domain, pretrain_config(study), placement="all", seed=seed, **fields)


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
    """Table 1's rows (`TABLE1_ROWS` names) for each target domain, once per seed; `fields`
    change every spec (a `pretrained` network among them replaces the plain one)."""
    return per_seed(study, lambda seed: _table1_runs(study, rows, targets, seed, fields))


def _table1_runs(study: Study, rows: Sequence[str], targets: Sequence[str], seed: int,
                 fields: dict) -> list[tuple[dict, TrainConfig]]:
    networks = {"plain": pretrain_config(study), "series": pretrain_config(study, adapter="series")}
    plan = []
    for row in rows:
        if row not in TABLE1_ROWS:
            raise ValueError(f"unknown Table 1 row {row!r}; valid rows: {', '.join(TABLE1_ROWS)}")
        method, network, placement = TABLE1_ROWS[row]
        row_fields = fields
        if method == "lora":  # the largest rank within the parallel row's size, computed from the modules
            classes = profile_classes(study.settings)
            ten = tuple((d, classes[d]) for d in (SOURCE, *TARGETS))
            row_fields = {"lora_rank": matched_rank(ten, study.settings.width), **fields}
        for d in targets:
            if method == "parallel_distilled":  # the teacher: this seed's Finetuning run of the domain
                teacher = adapt_config(study, "finetune", d, networks["plain"], seed=seed, **fields)
                row_fields = {"pretrained": (networks["plain"], teacher), "distill_weight": DISTILL_WEIGHT,
                              "distill_temperature": DISTILL_TEMPERATURE, **fields}
            plan.append(({"model": row}, adapt_config(study, method, d, networks[network], placement=placement,
                                                      seed=seed, **row_fields)))
    return plan


def series_a_posteriori_plan(study: Study, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Series adapters added to a network pretrained without them (sec. 4.1: -1.73 points)."""
    plain = pretrain_config(study)
    return per_seed(study, lambda seed: [({"model": "Series (a posteriori)"},
                                          adapt_config(study, "series", d, plain, seed=seed)) for d in targets])


def uniform_decay_plan(study: Study, decay: float, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Parallel adapters with one weight decay for every domain, against the paper's per-domain one."""
    plain = pretrain_config(study)
    return per_seed(study, lambda seed: [
        ({"model": f"Parallel, decay {decay:g} everywhere"},
         adapt_config(study, "parallel", d, plain, adapter_weight_decay=((d, decay),), seed=seed)) for d in targets])


def width_dropout_plan(study: Study, *, domain: str = "cifar100", width_factors: Sequence[float] | None = None,
                       dropout: float = 0.5, few_fraction: float | None = None) -> list[tuple[dict, TrainConfig]]:
    """Figure 4a: parallel adapters with and without dropout on pretrained networks of several
    widths, on the full training set and on a few images per class."""
    s = study.settings

    def runs(seed: int) -> list[tuple[dict, TrainConfig]]:
        plan = []
        for f in width_factors if width_factors is not None else s.width_factors:
            net = pretrain_config(study, width_factor=f)
            for p in (0.0, dropout):
                for subset, fraction in (("full", 1.0), ("few", few_fraction or s.few_fraction)):
                    plan.append(({"width_factor": f, "dropout": p > 0, "subset": subset},
                                 adapt_config(study, "parallel", domain, net, dropout=p, train_fraction=fraction,
                                              seed=seed)))
        return plan

    return per_seed(study, runs)


def svd_plan(study: Study, *, rank: float | int | None = None,
             targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Table 1's "Parallel SVD" row, once per seed: each seed's parallel runs compressed together."""

    def runs(seed: int) -> list[tuple[dict, TrainConfig]]:
        parallel = [svd_parallel_config(study, d, seed) for d in targets]
        return [({"model": "Parallel SVD"}, svd_config(study, d, parallel, rank, seed=seed)) for d in targets]

    return per_seed(study, runs)


def transfer_plan(study: Study, *, domains: Sequence[str] | None = None, fractions: Sequence[float] | None = None,
                  methods: Sequence[str] = ("finetune", "series", "parallel")) -> list[tuple[dict, TrainConfig]]:
    """Figure 4c-e: each method on growing fractions of the training data (sec. 4.2)."""
    s = study.settings
    networks = {"plain": pretrain_config(study), "series": pretrain_config(study, adapter="series")}

    def runs(seed: int) -> list[tuple[dict, TrainConfig]]:
        plan = []
        for d in domains if domains is not None else s.transfer_domains:
            for frac in fractions if fractions is not None else s.transfer_fractions:
                epochs = transfer_epochs(study, d, frac)
                for m in methods:
                    net = networks["series" if m == "series" else "plain"]
                    plan.append(({"fraction": frac}, adapt_config(study, m, d, net, train_fraction=frac, epochs=epochs,
                                                                  seed=seed)))
        return plan

    return per_seed(study, runs)


def transfer_epochs(study: Study, domain: str, fraction: float) -> int:
    """Epochs of every method on `fraction` of `domain`'s training set (Figure 4c-e): the
    profile's epochs, or more where they give fewer than half the SGD steps of the full-data run
    (steps = epochs x batches per epoch, from `cost.expected_batches`, no data read):
    epochs = max(E, ceil(E x full batches / (2 x fraction batches))). The same for every method,
    so finetuning and adapters get equal steps at each (domain, fraction)."""
    s = study.settings
    full = expected_batches(s, domain, 1.0)
    part = expected_batches(s, domain, fraction)
    return max(s.adapt_epochs, math.ceil(s.adapt_epochs * full / (2 * part)))


def class_plan(study: Study, *, domain: str = "cifar100",
               class_fractions: Sequence[float] | None = None) -> list[tuple[dict, TrainConfig]]:
    """Figure 4b: parallel adapters on networks pretrained with fewer source classes (sec. 4.3)."""
    fractions = class_fractions if class_fractions is not None else study.settings.class_fractions
    return per_seed(study, lambda seed: [
        ({"class_fraction": c}, adapt_config(study, "parallel", domain, pretrain_config(study, class_fraction=c),
                                             seed=seed)) for c in fractions])


SEED_ROWS = ("Finetuning", "Parallel Res. adapt.")  # the rows the source's seed and the precision are measured on


def source_seed_plan(study: Study, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Notebook 09 (beyond the paper): Table 1's Finetuning and Parallel rows adapted, with every
    adaptation seed, from a second seed of the main source network (`pretrain_config(seed=...)`):
    how much of a row's spread comes from the source rather than the adaptation."""
    second = pretrain_config(study, seed=study.seed + 1)
    return [({**labels, "source_seed": 1}, config)
            for labels, config in table1_plan(study, SEED_ROWS, targets, pretrained=(second,))]


def precision_plan(study: Study, targets: Sequence[str] = TARGETS) -> list[tuple[dict, TrainConfig]]:
    """Notebook 09: the Finetuning and Parallel rows and their source network once more in the
    other precision on the CPU (bf16 autocast where the series trains in float32, float32 where
    it trains under bf16), every seed: the accuracy effect of bf16, paired by seed and domain,
    that decides whether a profile may train under bf16 by default (Profile.cpu_bf16). Only
    where the profile asks for it and the CPU has native bf16 (`Study.bf16_twins`)."""
    if not study.bf16_twins:
        return []
    other = "float32" if study.bf16_on_cpu else "bf16"
    twins = dataclasses.replace(study, cpu_bf16=other == "bf16")
    return [({**labels, "precision": other}, config) for labels, config in table1_plan(twins, SEED_ROWS, targets)]


def source_strength_plan(study: Study, *, targets: Sequence[str] | None = None,
                         source_fractions: Sequence[float] = (1 / 16, 1 / 4, 1.0),
                         methods: Sequence[str] = ("finetune", "parallel", "bn")) -> list[tuple[dict, TrainConfig]]:
    """Notebook 09 (beyond the paper): each method on each target, from source networks pretrained
    on growing fractions of the source images (`pretrain_config(source_fraction=...)`). The runs
    at fraction 1 are Table 1's (same specs, so trained once)."""
    targets = targets if targets is not None else study.settings.transfer_domains

    def runs(seed: int) -> list[tuple[dict, TrainConfig]]:
        plan = []
        for fraction in source_fractions:
            net = pretrain_config(study, source_fraction=fraction)
            for d in targets:
                for m in methods:
                    plan.append(({"source_fraction": fraction}, adapt_config(study, m, d, net, seed=seed)))
        return plan

    return per_seed(study, runs)
