"""Where and how the experiment series runs (`Study`): its profile, data, results store and
device, with the data's preparation and the project root every default path is relative to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import Runtime, TrainConfig
from .data.domains import DOMAINS
from .identity import bind_data, is_prepared
from .profiles import Profile, get_profile
from .results import ResultStore


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
    workers: int | None = None  # trainings side by side (parallel_runs); None: by profile and device
    phase: str = "test"  # "validation": trained on train, reported on val (profiles.Profile.phase)

    def __post_init__(self) -> None:
        get_profile(self.profile).phase(self.phase)  # validates the names
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")

    @property
    def run_workers(self) -> int:
        """How many trainings `run_all` runs side by side (runtime, not spec: never in a run id)."""
        from .parallel_runs import default_workers

        return self.workers if self.workers is not None else default_workers(self.settings, self.device)

    @property
    def settings(self) -> Profile:
        return get_profile(self.profile, dry_run=self.dry_run).phase(self.phase)

    def in_phase(self, phase: str) -> Study:
        """This study with its trainings in `phase` (profiles.Profile.phase)."""
        return dataclasses.replace(self, phase=phase)

    @property
    def table_phase(self) -> str:
        """The phase whose runs the tables show: validation where the test labels are not released."""
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


def project_root(start: str | Path | None = None) -> Path:
    """The checkout paperlib runs from (the folder with its pyproject.toml above the package),
    else the one above `start` (default: the working directory), else the working directory.
    Default data, results and figures paths are relative to it."""
    package = Path(__file__).resolve().parents[1]
    here = Path(start or Path.cwd()).resolve()
    for folder in (package, here, *here.parents):
        toml = folder / "pyproject.toml"
        if toml.is_file() and 'name = "paperlib"' in toml.read_text():
            return folder
    return here


def domain_classes(study: Study) -> dict[str, int]:
    """Number of classes of every domain in the prepared cache."""
    from .data import load_split

    return {d: load_split(study.cache_dir, d, "train").num_classes for d in DOMAINS}


__all__ = ["Study", "prepare_data", "project_root", "domain_classes"]
