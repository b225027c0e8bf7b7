"""Where and how the experiment series runs (`Study`): its profile, data, results store and
device, and the data's preparation."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paperlib.core.errors import DataError
from paperlib.core.machine import cpu_bf16
from paperlib.core.paths import project_root
from paperlib.data import generate_mini, load_split, prepare
from paperlib.data.domains import DOMAINS
from paperlib.series.workers import Slot, plan_slots
from paperlib.train.identity import bind_data, is_prepared
from paperlib.train.profiles import Profile, get_profile
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore


@dataclass(frozen=True)
class Study:
    """Where and how the series runs: a profile (profiles.Profile), the data, the results store,
    the device. Relative defaults are resolved against the project root (the checkout holding
    notebooks/), so a notebook finds them from any working directory."""

    profile: str = "mini"
    data_root: str | None = None  # holds decathlon-1.0/; None: the profile's (see `root`)
    results_dir: str | None = None  # the results store; None: results/ in the project
    device: str = "auto"
    seed: int = 0
    dry_run: bool = False
    seeds: int | None = None  # seeds of every adaptation; None: the profile's (Profile.seeds)
    cpu_bf16: bool | None = None  # bf16 autocast on the CPU; None: the profile's rule on this machine
    workers: int | None = None  # trainings side by side; None: from the machine (workers.plan_slots)
    runs_per_gpu: int = 1  # trainings sharing one GPU
    phase: str = "test"  # "validation": trained on train, reported on val (profiles.Profile.phase)

    def __post_init__(self) -> None:
        get_profile(self.profile).phase(self.phase)  # validates the names
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.seeds is not None and self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.runs_per_gpu < 1:
            raise ValueError(f"runs_per_gpu must be at least 1, got {self.runs_per_gpu}")

    @property
    def adaptation_seeds(self) -> tuple[int, ...]:
        """The seeds every adaptation trains with: the study's seed and the next ones, as many as
        `seeds` (the profile's by default). The source networks keep the study's seed."""
        n = self.seeds if self.seeds is not None else self.settings.seeds
        return tuple(range(self.seed, self.seed + n))

    @property
    def bf16_on_cpu(self) -> bool:
        """Whether the series' runs train under bf16 autocast on the CPU (a part of their spec:
        TrainConfig.cpu_bf16): `cpu_bf16` if given, else where the CPU computes bf16 natively
        and the profile says so (Profile.cpu_bf16: no profile does, for the reason given there)."""
        if self.cpu_bf16 is not None:
            return self.cpu_bf16
        return self.settings.cpu_bf16 and cpu_bf16().native

    @property
    def bf16_twins(self) -> bool:
        """Whether notebook 09 trains twins of rows in the other precision (Profile.bf16_twins),
        which needs a CPU that computes bf16 natively: emulated bf16 is slower than float32 and is
        not what a default would use."""
        return self.settings.bf16_twins and cpu_bf16().native

    @property
    def slots(self) -> tuple[Slot, ...]:
        """Where `run_all` trains side by side on this machine (`workers.plan_slots`; runtime, not
        spec: never in a run id)."""
        return plan_slots(self.settings, self.device, workers=self.workers, runs_per_gpu=self.runs_per_gpu)

    @property
    def settings(self) -> Profile:
        return get_profile(self.profile, dry_run=self.dry_run).phase(self.phase)

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
