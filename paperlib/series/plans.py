"""The experiments of the paper's section 4 as plans of run specs (`TrainConfig`s).

A plan is a list of (labels, spec) built from a `Study` alone, without reading any data; an
adaptation's spec holds the spec of the network it starts from (`pretrained`). Running and
loading them is running.py; which notebook runs which plans is declared once, in notebooks.py.
"""

from __future__ import annotations

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


def base_config(study: Study, **fields) -> TrainConfig:
    """A spec with the profile's sizes (profiles.Profile.train_defaults), the study's precision on
    the CPU, then `fields`. The replicate's seed (`Study.run_seed`) seeds the run's new
    parameters, shuffling and augmentation; its class and image subsets stay the study's
    (`data_seed`), so that every replicate trains on the same images."""
    seeds = {"seed": study.run_seed} if study.run_seed == study.seed else {"seed": study.run_seed,
                                                                          "data_seed": study.seed}
    return TrainConfig.from_dict({**study.settings.train_defaults(), "cpu_bf16": study.cpu_bf16, **seeds, **fields})


Plan = list[tuple[dict, TrainConfig]]


def per_replicate(study: Study, plan: Callable[[Study], Plan]) -> Plan:
    """`plan` built for every replicate of the study (`Study.replicate_studies`), each run
    labelled with its replicate: the whole pipeline, its source networks included, once per
    replicate, on the same data."""
    return [({**labels, "replicate": rs.replicate}, config) for rs in study.replicate_studies()
            for labels, config in plan(rs)]


def pretrain_config(study: Study, *, width_factor: float = 1.0, class_fraction: float = 1.0,
                    adapter: str | None = None, source_fraction: float = 1.0) -> TrainConfig:
    """ResNet-26 trained from scratch on the source domain (sec. 4.1); with series adapters in
    it for the series experiments (they must be there at pretraining, sec. 4.1). With
    `source_fraction` < 1, on that class-stratified fraction of the source's images (every class
    kept), for the same number of epochs (notebook 09 states why). Seeded by the study's
    replicate: each replicate pretrains its own sources."""
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


def adapt_config(study: Study, method: str, domain: str, source: TrainConfig, **fields) -> TrainConfig:
    """Train `domain` from the pretrained `source` network with `method` (finetune, series,
    parallel, bn, head, lora, parallel_distilled: `fields` then give `pretrained` = (source,
    teacher)), seeded by the study's replicate."""
    s = study.settings
    values = dict(method=method, domains=(domain,), pretrained=(source,),
                  width=source.width, epochs=s.adapt_epochs, train_split=s.train_split,
                  eval_splits=s.eval_splits)
    if method == "finetune" and source.adapter == "series":
        values["adapter"] = "series"  # finetune the network with its adapters
    return base_config(study, **{**values, **fields})


def svd_config(study: Study, domain: str, parallel_runs: Sequence[TrainConfig], rank: float | int | None) -> TrainConfig:
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


def pretraining_plan(study: Study, *, width_factors: Sequence[float] | None = None,
                     class_fractions: Sequence[float] | None = None) -> Plan:
    """Every source network, once per replicate."""
    s = study.settings

    def runs(rs: Study) -> Plan:
        plan = [({"network": "plain", "width_factor": 1.0, "class_fraction": 1.0}, pretrain_config(rs)),
                ({"network": "series", "width_factor": 1.0, "class_fraction": 1.0},
                 pretrain_config(rs, adapter="series"))]
        for f in width_factors if width_factors is not None else s.width_factors:
            if f != 1.0:
                plan.append(({"network": "plain", "width_factor": f, "class_fraction": 1.0},
                             pretrain_config(rs, width_factor=f)))
        for c in class_fractions if class_fractions is not None else s.class_fractions:
            if c != 1.0:
                plan.append(({"network": "plain", "width_factor": 1.0, "class_fraction": c},
                             pretrain_config(rs, class_fraction=c)))
        return plan

    return per_replicate(study, runs)


def table1_plan(study: Study, rows: Sequence[str], targets: Sequence[str] = TARGETS, **fields) -> Plan:
    """Table 1's rows (`TABLE1_ROWS` names) for each target domain, once per replicate; `fields`
    change every spec."""
    return per_replicate(study, lambda rs: _table1_runs(rs, rows, targets, fields))


def _table1_runs(study: Study, rows: Sequence[str], targets: Sequence[str], fields: dict) -> Plan:
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
            if method == "parallel_distilled":  # the teacher: this replicate's Finetuning run of the domain
                teacher = adapt_config(study, "finetune", d, networks["plain"], **fields)
                row_fields = {"pretrained": (networks["plain"], teacher), "distill_weight": DISTILL_WEIGHT,
                              "distill_temperature": DISTILL_TEMPERATURE, **fields}
            plan.append(({"model": row}, adapt_config(study, method, d, networks[network], placement=placement,
                                                      **row_fields)))
    return plan


def series_a_posteriori_plan(study: Study, targets: Sequence[str] = TARGETS) -> Plan:
    """Series adapters added to a network pretrained without them (sec. 4.1: -1.73 points)."""
    return per_replicate(study, lambda rs: [({"model": "Series (a posteriori)"},
                                             adapt_config(rs, "series", d, pretrain_config(rs))) for d in targets])


def uniform_decay_plan(study: Study, decay: float, targets: Sequence[str] = TARGETS) -> Plan:
    """Parallel adapters with one weight decay for every domain, against the paper's per-domain one."""
    return per_replicate(study, lambda rs: [
        ({"model": f"Parallel, decay {decay:g} everywhere"},
         adapt_config(rs, "parallel", d, pretrain_config(rs), adapter_weight_decay=((d, decay),))) for d in targets])


def width_dropout_plan(study: Study, *, domain: str = "cifar100", width_factors: Sequence[float] | None = None,
                       dropout: float = 0.5, few_fraction: float | None = None) -> Plan:
    """Figure 4a: parallel adapters with and without dropout on pretrained networks of several
    widths, on the full training set and on a few images per class."""
    s = study.settings

    def runs(rs: Study) -> Plan:
        plan = []
        for f in width_factors if width_factors is not None else s.width_factors:
            net = pretrain_config(rs, width_factor=f)
            for p in (0.0, dropout):
                for subset, fraction in (("full", 1.0), ("few", few_fraction or s.few_fraction)):
                    plan.append(({"width_factor": f, "dropout": p > 0, "subset": subset},
                                 adapt_config(rs, "parallel", domain, net, dropout=p, train_fraction=fraction)))
        return plan

    return per_replicate(study, runs)


def svd_plan(study: Study, *, rank: float | int | None = None, targets: Sequence[str] = TARGETS) -> Plan:
    """Table 1's "Parallel SVD" row, once per replicate: each replicate's parallel runs compressed together."""

    def runs(rs: Study) -> Plan:
        parallel = [svd_parallel_config(rs, d) for d in targets]
        return [({"model": "Parallel SVD"}, svd_config(rs, d, parallel, rank)) for d in targets]

    return per_replicate(study, runs)


def transfer_plan(study: Study, *, domains: Sequence[str] | None = None, fractions: Sequence[float] | None = None,
                  methods: Sequence[str] = ("finetune", "series", "parallel")) -> Plan:
    """Figure 4c-e: each method on growing fractions of the training data (sec. 4.2)."""
    s = study.settings

    def runs(rs: Study) -> Plan:
        networks = {"plain": pretrain_config(rs), "series": pretrain_config(rs, adapter="series")}
        plan = []
        for d in domains if domains is not None else s.transfer_domains:
            for frac in fractions if fractions is not None else s.transfer_fractions:
                epochs = transfer_epochs(rs, d, frac)
                for m in methods:
                    net = networks["series" if m == "series" else "plain"]
                    plan.append(({"fraction": frac}, adapt_config(rs, m, d, net, train_fraction=frac, epochs=epochs)))
        return plan

    return per_replicate(study, runs)


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


def class_plan(study: Study, *, domain: str = "cifar100", class_fractions: Sequence[float] | None = None) -> Plan:
    """Figure 4b: parallel adapters on networks pretrained with fewer source classes (sec. 4.3)."""
    fractions = class_fractions if class_fractions is not None else study.settings.class_fractions
    return per_replicate(study, lambda rs: [
        ({"class_fraction": c}, adapt_config(rs, "parallel", domain, pretrain_config(rs, class_fraction=c)))
        for c in fractions])


def source_strength_plan(study: Study, *, targets: Sequence[str] | None = None,
                         source_fractions: Sequence[float] = (1 / 16, 1 / 4, 1.0),
                         methods: Sequence[str] = ("finetune", "parallel", "bn")) -> Plan:
    """Notebook 09 (beyond the paper): each method on each target, from source networks pretrained
    on growing fractions of the source images (`pretrain_config(source_fraction=...)`), once per
    replicate. The runs at fraction 1 are Table 1's (same specs, so trained once)."""
    targets = targets if targets is not None else study.settings.transfer_domains

    def runs(rs: Study) -> Plan:
        plan = []
        for fraction in source_fractions:
            net = pretrain_config(rs, source_fraction=fraction)
            for d in targets:
                for m in methods:
                    plan.append(({"source_fraction": fraction}, adapt_config(rs, m, d, net)))
        return plan

    return per_replicate(study, runs)
