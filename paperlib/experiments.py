"""The experiments of the paper's section 4 as plans of `TrainConfig`s, run through the results store.

Every notebook calls one function here; each returns a tidy DataFrame (one row per run and
domain) and never trains a config twice: `train.run_or_load` returns stored records, so a rerun
or an interrupted series picks up where it stopped. The plan of a whole profile
(`series_plan`) is what `paperlib reproduce --plan` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import TrainConfig, svd_rank_fields
from .data.domains import DOMAINS
from .results import ResultStore

SOURCE = "imagenet12"
TARGETS = ("aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb", "vgg-flowers", "omniglot", "svhn", "ucf101")
# Table 1's rows that this reproduction trains, and how (method, pretrained network, placement)
TABLE1_ROWS = {
    "Finetuning": ("finetune", "plain", "all"),
    "Series Res. adapt.": ("series", "series", "all"),
    "Parallel Res. adapt.": ("parallel", "plain", "all"),
    "Parallel (early)": ("parallel", "plain", "early"),
    "Parallel (mid)": ("parallel", "plain", "mid"),
    "Parallel (late)": ("parallel", "plain", "late"),
    "Parallel (half)": ("parallel", "plain", "half"),
}


@dataclass(frozen=True)
class SeriesSettings:
    """How big the notebook series is at one profile (the TrainConfig defaults are in config.py)."""

    image_size: int  # side of the stored square images (72 in the paper)
    crop: int  # training / test crop (64 in the paper)
    width: float  # ResNet-26 width of the main network
    pretrain_epochs: int
    adapt_epochs: int
    train_split: str  # of the target domains; the paper reports test numbers trained on train+val
    eval_splits: tuple[str, ...]
    report_split: str  # the split whose accuracy the tables show
    width_factors: tuple[float, ...]  # Figure 4a: pretrained widths, relative to `width`
    class_fractions: tuple[float, ...]  # Figure 4b: fraction of the source classes for pretraining
    transfer_domains: tuple[str, str, str]  # Figure 4c-e: small, medium, large
    transfer_fractions: tuple[float, ...]
    few_fraction: float  # Figure 4a "few images per class": the paper's 50 of 400 CIFAR images
    uniform_decay: float  # regularization ablation: one adapter decay for every domain
    mini_scale: float | None  # MiniDecathlon images per class x this; None: the real Decathlon
    limit_batches: int | None = None  # dry runs: steps per epoch and eval batches
    batch_size: int | None = None  # None: the profile's (config.py); dry runs use a small one


def series_settings(profile: str, *, dry_run: bool = False) -> SeriesSettings:
    """The sizes of the series for a profile; `dry_run` keeps them but stops every training
    after a few steps (the full profile's code path, checked on any machine)."""
    table = {
        # every notebook end to end in minutes on 2 cores; the numbers mean nothing
        "smoke": SeriesSettings(image_size=40, crop=32, width=0.125, pretrain_epochs=2, adapt_epochs=1,
                                train_split="train", eval_splits=("val", "test"), report_split="test",
                                width_factors=(0.5, 1.0), class_fractions=(0.5, 1.0),
                                transfer_domains=("ucf101", "cifar100", "svhn"), transfer_fractions=(0.5, 1.0),
                                few_fraction=0.25, uniform_decay=0.0005, mini_scale=0.2, limit_batches=3),
        # the MiniDecathlon on a 2-core laptop in under an hour
        "mini": SeriesSettings(image_size=40, crop=32, width=0.25, pretrain_epochs=20, adapt_epochs=12,
                               train_split="train", eval_splits=("val", "test"), report_split="test",
                               width_factors=(0.5, 1.0, 2.0), class_fractions=(0.25, 0.5, 1.0),
                               transfer_domains=("ucf101", "cifar100", "svhn"),
                               transfer_fractions=(0.1, 0.25, 0.5, 1.0), few_fraction=0.25,
                               uniform_decay=0.0005, mini_scale=1.0),
        # the paper: Visual Decathlon at 72 pixels, ResNet-26, the authors' schedule
        "full": SeriesSettings(image_size=72, crop=64, width=1.0, pretrain_epochs=120, adapt_epochs=120,
                               train_split="trainval", eval_splits=("test",), report_split="test",
                               width_factors=(0.5, 1.0, 2.5), class_fractions=(0.1, 0.25, 0.5, 1.0),
                               transfer_domains=("ucf101", "cifar100", "svhn"),
                               transfer_fractions=(0.05, 0.1, 0.25, 0.5, 1.0), few_fraction=0.125,
                               uniform_decay=0.0005, mini_scale=None),
    }
    if profile not in table:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(table)}")
    settings = table[profile]
    if dry_run:
        settings = dataclasses.replace(settings, pretrain_epochs=1, adapt_epochs=1, limit_batches=2, batch_size=4)
    return settings


@dataclass(frozen=True)
class Study:
    """Where and how the series runs: a profile, the data, the results store, the device."""

    profile: str = "mini"
    data_root: str | None = None  # holds decathlon-1.0/; None: data/<profile> (data/decathlon for full)
    results_dir: str = "results"
    device: str = "auto"
    seed: int = 0
    dry_run: bool = False
    # weights file -> the config that writes it, filled by `weights_of`, so that a notebook run on
    # its own can train what its configs start from (see `_ensure_inputs`)
    producers: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        series_settings(self.profile)  # validates the name

    @property
    def settings(self) -> SeriesSettings:
        return series_settings(self.profile, dry_run=self.dry_run)

    @property
    def root(self) -> Path:
        default = "data/decathlon" if self.profile == "full" else f"data/{self.profile}"
        return Path(self.data_root or default)

    @property
    def cache_dir(self) -> Path:
        return self.root / f"cache-{self.settings.image_size}"

    @property
    def store(self) -> ResultStore:
        return ResultStore(self.results_dir)


# ---------------------------------------------------------------- data


def prepare_data(study: Study, *, domains: Sequence[str] = DOMAINS) -> pd.DataFrame:
    """Generate the MiniDecathlon (smoke, mini) if needed, decode every split once into the cache,
    and return the counts per domain and split."""
    from .data import generate_mini, prepare
    from .data.errors import DataError

    s = study.settings
    if s.mini_scale is not None:
        generate_mini(study.root, seed=study.seed, size=s.image_size, scale=s.mini_scale)
    elif not (study.root / "decathlon-1.0").is_dir():
        raise DataError(f"no Visual Decathlon at {study.root / 'decathlon-1.0'}: run `paperlib data download "
                        f"--root {study.root}` (or pass data_root)")
    manifests = prepare(study.root, study.cache_dir, domains, ("train", "val", "test"), size=s.image_size)
    rows = [{"domain": m["domain"], "split": m["split"], "images": m["count"], "classes": m["num_classes"]}
            for m in manifests]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- configs


def base_config(study: Study, **fields) -> TrainConfig:
    s = study.settings
    limits = {} if s.limit_batches is None else {"train_limit_batches": s.limit_batches,
                                                 "eval_limit_batches": s.limit_batches}
    if s.batch_size is not None:
        limits.update(batch_size=s.batch_size, eval_batch_size=s.batch_size)
    defaults = dict(data_dir=str(study.cache_dir), device=study.device, seed=study.seed, crop=s.crop,
                    width=s.width, **limits)
    return TrainConfig.for_profile(study.profile, **{**defaults, **fields})


def pretrain_config(study: Study, *, width_factor: float = 1.0, class_fraction: float = 1.0,
                    adapter: str | None = None) -> TrainConfig:
    """ResNet-26 trained from scratch on the source domain (sec. 4.1); with series adapters in
    it for the series experiments (they must be there at pretraining, sec. 4.1)."""
    s = study.settings
    return base_config(study, method="scratch", domains=(SOURCE,), adapter=adapter, epochs=s.pretrain_epochs,
                       width=s.width * width_factor, class_fraction=class_fraction,
                       train_split="train", eval_splits=("val",))


def weights_of(study: Study, config: TrainConfig) -> str:
    """The weights file `config` writes when it finishes (remembered as its producer)."""
    path = str(study.store.weights_path(config))
    study.producers[path] = config
    return path


def adapt_config(study: Study, method: str, domain: str, pretrained: TrainConfig, **fields) -> TrainConfig:
    """Train `domain` from a pretrained source network with `method` (finetune, series, parallel, bn)."""
    s = study.settings
    values = dict(method=method, domains=(domain,), pretrained=(weights_of(study, pretrained),),
                  width=pretrained.width, epochs=s.adapt_epochs, train_split=s.train_split,
                  eval_splits=s.eval_splits)
    if method == "finetune" and pretrained.adapter == "series":
        values["adapter"] = "series"  # finetune the network with its adapters
    return base_config(study, **{**values, **fields})


def svd_config(study: Study, domain: str, parallel_runs: Sequence[TrainConfig], rank: float | int | None) -> TrainConfig:
    """gamma_t of `domain` fine-tuned after the joint SVD of the parallel adapters of every
    domain in `parallel_runs` (sec. 3.4)."""
    s = study.settings
    return base_config(study, method="svd", domains=(domain,), svd_domains=tuple(c.domains[0] for c in parallel_runs),
                       pretrained=tuple(weights_of(study, c) for c in parallel_runs), **svd_rank_fields(rank),
                       width=parallel_runs[0].width, epochs=s.adapt_epochs, train_split=s.train_split,
                       eval_splits=s.eval_splits)


# ---------------------------------------------------------------- running


def run_all(study: Study, configs: Iterable[tuple[dict, TrainConfig]], *,
            progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Run (or load) each config; one row per (run, domain) with the labels given beside it."""
    from .train import run_or_load

    rows = []
    configs = list(configs)
    for i, (labels, config) in enumerate(configs, 1):
        _ensure_inputs(study, config, progress)
        stored = study.store.load(config) is not None
        if progress is not None and not stored:
            progress(f"[{i}/{len(configs)}] training {labels} ({config.method}, {'+'.join(config.domains)})")
        record = run_or_load(config, study.store)
        for domain in config.domains:
            metrics = record["metrics"].get(domain, {})
            counts = record["parameters"]["per_domain"].get(domain, {})
            acc = {f"acc_{split}": (float("nan") if v is None else v) for split, v in metrics.items()}
            rows.append({**labels, "domain": domain, "method": config.method, **acc,
                         "accuracy": _nan(metrics.get(study.settings.report_split if domain != SOURCE else "val")),
                         "params_adapter": counts.get("adapter"), "wall_time_s": record["wall_time_s"],
                         "run_id": record["run_id"]})
    return pd.DataFrame(rows)


def _ensure_inputs(study: Study, config: TrainConfig, progress: Callable[[str], None] | None) -> None:
    """A notebook run on its own still works: prepare the data cache if it is missing, and train
    the networks a config starts from (pretraining, the parallel adapters SVD compresses) first."""
    from .train import run_or_load

    if not (study.cache_dir / config.domains[0]).is_dir():
        prepare_data(study)
    missing = [path for path in config.pretrained if not Path(path).is_file()]
    if not missing:
        return
    for path in missing:
        if path not in study.producers:
            raise FileNotFoundError(f"{path}: pretrained weights that no training of this study produces")
        source = study.producers[path]
        _ensure_inputs(study, source, progress)
        if progress is not None:
            progress(f"first training what it starts from: {source.method} on {'+'.join(source.domains)}")
        run_or_load(source, study.store)


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
        for d in targets:
            plan.append(({"model": row}, adapt_config(study, method, d, networks[network], placement=placement,
                                                      **fields)))
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
    parallel = [c for _, c in table1_plan(study, ["Parallel Res. adapt."], targets)]
    return [({"model": "Parallel SVD"}, svd_config(study, d, parallel, rank)) for d in targets]


def transfer_plan(study: Study, *, domains: Sequence[str] | None = None, fractions: Sequence[float] | None = None,
                  methods: Sequence[str] = ("finetune", "series", "parallel")) -> list[tuple[dict, TrainConfig]]:
    """Figure 4c-e: each method on growing fractions of the training data (sec. 4.2)."""
    s = study.settings
    networks = {"plain": pretrain_config(study), "series": pretrain_config(study, adapter="series")}
    plan = []
    for d in domains if domains is not None else s.transfer_domains:
        for frac in fractions if fractions is not None else s.transfer_fractions:
            for m in methods:
                net = networks["series" if m == "series" else "plain"]
                plan.append(({"fraction": frac}, adapt_config(study, m, d, net, train_fraction=frac)))
    return plan


def class_plan(study: Study, *, domain: str = "cifar100",
               class_fractions: Sequence[float] | None = None) -> list[tuple[dict, TrainConfig]]:
    """Figure 4b: parallel adapters on networks pretrained with fewer source classes (sec. 4.3)."""
    s = study.settings
    return [({"class_fraction": c}, adapt_config(study, "parallel", domain, pretrain_config(study, class_fraction=c)))
            for c in (class_fractions if class_fractions is not None else s.class_fractions)]


def series_plan(study: Study) -> list[tuple[str, dict, TrainConfig]]:
    """Every training the notebook series runs with its defaults, in order, without duplicates."""
    parts = [
        ("01_pretrain", pretraining_plan(study)),
        ("02_series_vs_parallel", table1_plan(study, ["Finetuning", "Series Res. adapt.", "Parallel Res. adapt."])
         + series_a_posteriori_plan(study)),
        ("03_placement", table1_plan(study, ["Parallel (early)", "Parallel (mid)", "Parallel (late)",
                                             "Parallel (half)"])),
        ("04_regularization", uniform_decay_plan(study, study.settings.uniform_decay) + width_dropout_plan(study)),
        ("05_svd", svd_plan(study)),
        ("06_transfer", transfer_plan(study)),
        ("07_pretraining", class_plan(study)),
    ]
    seen, plan = set(), []
    for notebook, items in parts:
        for labels, config in items:
            if config.run_id not in seen:
                seen.add(config.run_id)
                plan.append((notebook, labels, config))
    return plan


# ---------------------------------------------------------------- helpers for the notebooks


def project_root(start: str | Path | None = None) -> Path:
    """The repository (the folder with paperlib's pyproject.toml) above `start` (default: the
    working directory, e.g. notebooks/ in JupyterLab); the working directory if there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        toml = folder / "pyproject.toml"
        if toml.is_file() and 'name = "paperlib"' in toml.read_text():
            return folder
    return here


def domain_classes(study: Study) -> dict[str, int]:
    """Number of classes of every domain in the prepared cache."""
    from .data import load_split

    return {d: load_split(study.cache_dir, d, "train").num_classes for d in DOMAINS}
