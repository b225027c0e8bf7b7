"""Where and how the experiment series runs (`Study`): its profile, data, results store, device
and replicates, and the data's preparation.

`Study`'s fields marked `option(...)` are the series' options, declared once: the notebooks'
parameters (series.params, whose classes extend Study), their `parameters` cells, and
`paperlib reproduce`'s command-line options (series.options) are all generated from them.
Adding an option is adding a field here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from paperlib.core.errors import DataError
from paperlib.core.paths import project_root
from paperlib.data import load_split, prepare
from paperlib.data.domains import DOMAINS
from paperlib.data.mini.generate import generate_mini
from paperlib.train.identity import bind_data, is_prepared
from paperlib.train.profiles import PROFILES, Profile, get_profile
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore


def option(default: Any, help: str, *, flag: str | None = None, expr: str | None = None,
           choices: Sequence[str] | None = None, profile_field: str | None = None) -> Any:
    """A series option (a `Study` field) or a notebook's own parameter (a `series.params` field):
    its default, its help (the parameters cell's comment and the command's help), the command-line
    flag when it is not `--name-with-dashes`, the expression the cell assigns instead of the
    literal default, the values it takes, and the Profile field that gives it where it is None
    (its per-profile defaults are then written in the help from the table). Only `Study`'s
    options become command-line options."""
    return field(default=default, metadata={"help": help, "flag": flag, "expr": expr, "choices": choices,
                                            "profile_field": profile_field})


def is_option(f: dataclasses.Field) -> bool:
    return "help" in f.metadata


def option_help(f: dataclasses.Field) -> str:
    """The option's help with its per-profile defaults, read from the profile table."""
    name = f.metadata.get("profile_field")
    if not name:
        return f.metadata["help"]
    values = ", ".join(f"{p} {getattr(get_profile(p), name)}" for p in PROFILES)
    return f"{f.metadata['help']}; None: the profile's ({values})"


@dataclass(frozen=True)
class Study:
    """Where and how the series runs: a profile (profiles.Profile), the data, the results store,
    the device, the replicates. Relative defaults are resolved against the project root (the
    checkout holding notebooks/), so a notebook finds them from any working directory.

    A replicate is the whole pipeline once more with its own seed: replicate r pretrains every
    source network and trains every adaptation from its own sources with seed `seed + r`, on the
    same data (the data tree and the class and image subsets stay those of `seed`). Replicate 0
    is the study's seed itself, so its runs keep their ids whatever the number of replicates."""

    profile: str = option("mini", "smoke | mini | full (CI sets smoke)", choices=PROFILES,
                          expr='os.environ.get("PAPERLIB_PROFILE", "mini")')
    data_root: str | None = option(None, "folder holding decathlon-1.0/; None: the profile's, in the project")
    results_dir: str | None = option(None, "the results store, whose runs are loaded; None: results/ in the project",
                                     flag="--results")
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    seed: int = option(0, "seeds the data and replicate 0; replicate r trains with seed + r")
    dry_run: bool = option(False, "the profile's settings but a few steps per training (checks a code path)")
    replicates: int | None = option(None, "copies of the whole pipeline, each with its own seed",
                                    profile_field="replicates")
    cpu_bf16: bool = option(False, "bf16 autocast on the CPU (part of each run's spec); False: float32")
    workers: int | None = option(None, "trainings side by side; None: from the machine's cores, memory and GPUs")
    runs_per_gpu: int = option(1, "trainings sharing one GPU")
    # not options: which of the pipeline's copies, and which phase, a plan is built for
    replicate: int = 0
    phase: str = "test"  # "validation": trained on train, reported on val (profiles.Profile.phase)

    def __post_init__(self) -> None:
        get_profile(self.profile).phase(self.phase)  # validates the names
        for name in ("workers", "replicates", "runs_per_gpu"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if not 0 <= self.replicate < self.replicate_count:
            raise ValueError(f"replicate must be in 0..{self.replicate_count - 1}, got {self.replicate}")

    @property
    def replicate_count(self) -> int:
        return self.replicates if self.replicates is not None else self.settings.replicates

    def replicate_studies(self) -> tuple[Study, ...]:
        """The study once per replicate (`replicate` 0, 1, ...): what every plan is built from."""
        return tuple(dataclasses.replace(self, replicate=r) for r in range(self.replicate_count))

    @property
    def run_seed(self) -> int:
        """The seed of this replicate's runs (its sources' and its adaptations')."""
        return self.seed + self.replicate

    @property
    def settings(self) -> Profile:
        return get_profile(self.profile, dry_run=self.dry_run).phase(self.phase)

    def options(self) -> dict[str, Any]:
        """The series options as the notebooks' parameters take them (papermill's `parameters`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Study) if is_option(f)}

    def in_phase(self, phase: str) -> Study:
        """This study with its trainings in `phase` (profiles.Profile.phase)."""
        return dataclasses.replace(self, phase=phase)

    @property
    def table_phase(self) -> str:
        """The phase whose runs the notebooks' tables show: validation where the profile's data may
        come without test labels (Profile.test_labels: the real Decathlon)."""
        return "test" if self.settings.test_labels else "validation"

    @property
    def submissions_dir(self) -> Path:
        """Where the evaluation server's files go: runs/<profile>/submissions in the project;
        for a dry run with its own store (`paperlib reproduce --dry-run`), beside that store."""
        if self.dry_run and self.results_dir:
            return Path(self.results_dir).parent / "submissions"
        return project_root() / "runs" / self.profile / "submissions"

    @property
    def root(self) -> Path:
        """`data_root` if given; else the profile's folder (data/decathlon for the real data) and,
        for a generated MiniDecathlon, one sub-folder per generation (seed, size, counts, generator
        version: `data.mini.generation_id`), so that two seeds never share a folder."""
        if self.data_root:
            return Path(self.data_root)
        return project_root() / self.settings.data_folder(self.seed)

    @property
    def cache_dir(self) -> Path:
        return self.root / self.settings.cache_name

    @property
    def store(self) -> ResultStore:
        return ResultStore(self.results_dir or project_root() / "results")

    @property
    def runtime(self) -> Runtime:
        """Where the runs read their data and which device runs them (not part of any run's identity)."""
        return Runtime(data_dir=str(self.cache_dir), device=self.device)

    def prepared(self) -> bool:
        """Whether every domain and split of the cache is prepared."""
        return is_prepared(self.cache_dir, DOMAINS, ("train", "val", "test"))

    def bind(self, config: TrainConfig) -> TrainConfig:
        """`config` (and its upstream runs) bound to the identity of this study's data."""
        return bind_data(config, self.cache_dir)


def prepare_data(study: Study, *, domains: Sequence[str] = DOMAINS) -> pd.DataFrame:
    """Generate the MiniDecathlon (smoke, mini) if needed, decode every split once into the cache,
    and return the counts per domain and split."""
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


def domain_classes(study: Study) -> dict[str, int]:
    """Number of classes of every domain in the prepared cache."""
    return {d: load_split(study.cache_dir, d, "train").num_classes for d in DOMAINS}
