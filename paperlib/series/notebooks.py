"""The notebook series, declared once: which trainings each notebook runs, by part.

`notebook_plans(study, notebook, params)` is what a notebook runs (with its validated
parameters); `series_plan(study)` is every training at the notebooks' default parameters, in
order, without duplicates, and `series_trainings(study)` the same with the upstream runs they
start from (what `paperlib reproduce --plan` prints); the report reads the same parts from the
store (`table1.collect`). Changing an ablation is changing a notebook's parameters cell;
changing what the series is, is changing this table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from paperlib.data.domains import TARGETS
from paperlib.series.lora_front import LORA_ROW, front_plan
from paperlib.series.params import (
    ClassesParams,
    DataParams,
    OwnDomainParams,
    Params,
    PlacementParams,
    PretrainParams,
    RegularizationParams,
    ReportParams,
    SeriesParallelParams,
    SourceStrengthParams,
    SVDParams,
    TransferParams,
)
from paperlib.series.plans import (
    DISTILLED_ROW,
    Plan,
    class_plan,
    pretrain_config,
    pretraining_plan,
    series_a_posteriori_plan,
    source_strength_plan,
    svd_plan,
    table1_plan,
    transfer_plan,
    uniform_decay_plan,
    width_dropout_plan,
)
from paperlib.series.study import Study
from paperlib.train.spec import TrainConfig



def _pretrain(study: Study, p: PretrainParams) -> dict[str, Plan]:
    return {"pretrain": pretraining_plan(study, width_factors=p.width_factors, class_fractions=p.class_fractions)}


def _series_vs_parallel(study: Study, p: SeriesParallelParams) -> dict[str, Plan]:
    targets = p.targets or TARGETS
    rows = ["Feature extractor", "BN adaptation", "Finetuning", "Series Res. adapt.", "Parallel Res. adapt."]
    return {"table1": table1_plan(study, rows, targets),
            "a_posteriori": series_a_posteriori_plan(study, targets),
            "distilled": table1_plan(study, [DISTILLED_ROW], targets)}


def _placement(study: Study, p: PlacementParams) -> dict[str, Plan]:
    rows = ["Parallel Res. adapt."] + [f"Parallel ({where})" for where in p.placements]
    return {"table1": table1_plan(study, rows, p.targets or TARGETS)}


def _regularization(study: Study, p: RegularizationParams) -> dict[str, Plan]:
    targets = p.targets or TARGETS
    decay = p.uniform_decay if p.uniform_decay is not None else study.settings.uniform_decay
    return {"per_domain": table1_plan(study, ["Parallel Res. adapt."], targets),
            "uniform_decay": uniform_decay_plan(study, decay, targets),
            "width_dropout": width_dropout_plan(study, width_factors=p.width_factors, dropout=p.dropout,
                                                   few_fraction=p.few_fraction)}


def _svd(study: Study, p: SVDParams) -> dict[str, Plan]:
    targets = p.targets or TARGETS
    return {"parallel": table1_plan(study, ["Parallel Res. adapt."], targets),
            "svd": svd_plan(study, rank=p.rank, targets=targets),
            **_lora_parts(study, targets)}


def _lora_parts(study: Study, targets) -> dict[str, Plan]:
    """LoRA-conv (peft) at the parallel row's budget, and the accuracy-parameters front (not in the paper)."""
    return {"lora": table1_plan(study, [LORA_ROW], targets), "front": front_plan(study)}


def _transfer(study: Study, p: TransferParams) -> dict[str, Plan]:
    return {"transfer": transfer_plan(study, domains=p.transfer_domains, fractions=p.fractions, methods=p.methods)}


def _classes(study: Study, p: ClassesParams) -> dict[str, Plan]:
    return {"classes": class_plan(study, class_fractions=p.class_fractions),
            "width_dropout": width_dropout_plan(study)}


def _source_strength(study: Study, p: SourceStrengthParams) -> dict[str, Plan]:
    return {"source_strength": source_strength_plan(study, targets=p.targets, source_fractions=p.source_fractions,
                                                       methods=p.methods)}


# notebook -> (its parameters, the trainings it runs by part); 00_data and 08 train nothing.
# 09_source_strength keeps its number but runs before 08 (dict order is run order): 08 writes the
# claims table from the store, so 09's runs (and its claim) must be there first.
SERIES: dict[str, tuple[type[Params], Callable[..., dict[str, Plan]] | None]] = {
    "00_data": (DataParams, None),
    "01_pretrain": (PretrainParams, _pretrain),
    "02_series_vs_parallel": (SeriesParallelParams, _series_vs_parallel),
    "03_placement": (PlacementParams, _placement),
    "04_regularization": (RegularizationParams, _regularization),
    "05_svd": (SVDParams, _svd),
    "06_transfer": (TransferParams, _transfer),
    "07_pretraining": (ClassesParams, _classes),
    "09_source_strength": (SourceStrengthParams, _source_strength),
    "08_table1_figure4": (ReportParams, None),
    "10_your_own_domain": (OwnDomainParams, None),  # trains through `paperlib adapt`, outside the store
}
NOTEBOOKS: tuple[str, ...] = tuple(SERIES)

# The parts holding Table 1's rows. Where the profile's data may come without test labels
# (profiles.Profile.test_labels: the real Decathlon), the tables show the validation phase and these
# parts are trained once more in the test phase (on train+val, as the paper): Table 1 on the test
# split where its labels are placed, and the evaluation server's submissions either way.
TABLE1_PARTS = {"02_series_vs_parallel": ("table1", "a_posteriori", "distilled"), "03_placement": ("table1",),
                "05_svd": ("svd", "lora")}
TEST_PHASE = "test_phase"  # the part of a notebook's plans holding those test-phase trainings


def notebook_plans(study: Study, notebook: str, params: Params | None = None) -> dict[str, Plan]:
    """The trainings `notebook` runs, by part, at `params` (default: its parameters' defaults)."""
    if notebook not in SERIES:
        raise ValueError(f"unknown notebook {notebook!r}; valid: {', '.join(SERIES)}")
    params_type, plans = SERIES[notebook]
    if params is not None and not isinstance(params, params_type):
        raise TypeError(f"{notebook} takes {params_type.__name__}, got {type(params).__name__}")
    if plans is None:
        return {}
    params = params or params_type()
    parts = plans(study.in_phase(study.table_phase), params)
    if study.table_phase != "test" and notebook in TABLE1_PARTS:
        test = plans(study.in_phase("test"), params)
        parts[TEST_PHASE] = [({**labels, "phase": "test"}, config) for part in TABLE1_PARTS[notebook]
                             for labels, config in test[part]]
    return parts


def submission_rows(study: Study) -> dict[str, list[TrainConfig]]:
    """{Table 1 row: the test-phase trainings that predict its ten domains}: the pretrained network
    (ImageNet; with series adapters for "Series Res. adapt.") and the row's adapted networks of
    replicate 0 (the server takes one file per row). Empty where the profile trains no test phase
    apart (its tables are the test split's)."""
    rows: dict[str, dict[str, TrainConfig]] = {}
    for notebook in TABLE1_PARTS:
        for labels, config in notebook_plans(study, notebook).get(TEST_PHASE, []):
            if labels.get("replicate", 0) == 0:
                rows.setdefault(labels["model"], {})[config.run_id] = config
    return {row: [pretrain_config(study, adapter="series" if row == "Series Res. adapt." else None),
                  *configs.values()] for row, configs in rows.items()}


def series_plan(study: Study) -> list[tuple[str, dict, TrainConfig]]:
    """Every training the notebook series runs with its defaults, in order, without duplicates."""
    seen, plan = set(), []
    for notebook in NOTEBOOKS:
        for items in notebook_plans(study, notebook).values():
            for labels, config in items:
                if config.run_id not in seen:
                    seen.add(config.run_id)
                    plan.append((notebook, labels, config))
    return plan


def series_trainings(study: Study, only: Sequence[str] | None = None) -> list[tuple[str, dict, TrainConfig]]:
    """Every training the series trains, in run order, each once: `series_plan`'s and the
    upstream runs they start from (`TrainConfig.upstream`, recursively: pretrainings, the
    parallel runs an SVD compresses, a distillation's teacher), each just before the first run
    that needs it and attributed to that run's notebook, with labels {"upstream": True}. With
    `only` (notebook names), what those notebooks train on an empty store: their runs and every
    upstream run they need, attributed to the first of them that needs it."""
    seen, trainings = set(), []

    def visit(notebook: str, labels: dict, config: TrainConfig) -> None:
        if config.run_id in seen:
            return
        for source in config.upstream:
            visit(notebook, {"upstream": True}, source)
        seen.add(config.run_id)
        trainings.append((notebook, labels, config))

    for notebook, labels, config in series_plan(study):
        if only is None or notebook in only:
            visit(notebook, labels, config)
    return trainings


__all__ = ["SERIES", "NOTEBOOKS", "TABLE1_PARTS", "TEST_PHASE", "notebook_plans", "series_plan", "series_trainings",
           "submission_rows"]
