"""The series' trainings as cluster jobs, through submitit: SLURM job arrays, or the same jobs as
processes on this machine.

    paperlib reproduce --profile full --data-root /shared/decathlon --results /shared/results \
        --executor slurm --partition gpu --gpus-per-node 1 [--only 01_pretrain 02_series_vs_parallel]

submits every training the chosen notebooks run (all of them by default) that the results store
lacks, then executes the notebooks, which find every run stored and only read. The store and the
data must be on a filesystem the nodes share; each job trains one run through
`train.run.run_or_load`, under the run's lock, so a run is never trained twice and a record is
written only whole.

- Order: the missing runs go in dependency waves, each a job array: a run's upstream runs (its
  source network, the adapters an SVD compresses) are in earlier waves or stored. On SLURM each
  wave waits for the one before it (`--dependency=afterok:<array>`), so the command submits the
  whole series at once; submitit's local executor has no dependencies, so there the command
  waits for each wave before submitting the next.
- Failures and restarts: a job that fails, times out or is killed leaves its run's last epoch
  checkpoint; running the command again submits only what the store still lacks, and a
  resubmitted run resumes from its checkpoint as any interrupted run does.
- `--executor local` (the default) trains inside the notebooks, side by side as
  `workers.plan_slots` places them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from paperlib.core.machine import usable_cores
from paperlib.series.notebooks import notebook_plans
from paperlib.series.study import Study, prepare_data
from paperlib.series.workers import describe, missing_runs
from paperlib.train.run import run_or_load
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore

EXECUTORS = ("local", "slurm", "processes")  # processes: submitit's local executor (real processes, here)


@dataclass(frozen=True)
class ClusterSettings:
    """How the jobs are submitted (`paperlib reproduce --executor ...`)."""

    executor: str = "slurm"  # "slurm" or "processes"
    folder: str = "runs/submitit"  # submitit's job files and logs: on the shared filesystem for SLURM
    partition: str | None = None
    gpus_per_node: int = 1
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    timeout_min: int = 24 * 60  # a job's wall-time limit (SLURM --time)
    array_parallelism: int | None = None  # jobs of one array running at once (None: SLURM's limit)
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # more sbatch options (--account, --qos)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS[1:]:
            raise ValueError(f"unknown executor {self.executor!r} for jobs; valid: {', '.join(EXECUTORS[1:])}")

    def parameters(self, after: str | None = None) -> dict:
        """submitit's `update_parameters` for one wave; `after`: the job id the wave waits for."""
        params: dict = {"timeout_min": self.timeout_min, "gpus_per_node": self.gpus_per_node, "nodes": 1,
                        "tasks_per_node": 1}
        if self.cpus_per_task:
            params["cpus_per_task"] = self.cpus_per_task
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        if self.executor == "slurm":
            if self.partition:
                params["slurm_partition"] = self.partition
            if self.array_parallelism:
                params["slurm_array_parallelism"] = self.array_parallelism
            extra = dict(self.extra)
            if after is not None:
                extra["dependency"] = f"afterok:{after}"
            if extra:
                params["slurm_additional_parameters"] = extra
        return params


def dependency_waves(store: ResultStore, configs: Iterable[TrainConfig]) -> list[list[TrainConfig]]:
    """The runs of `configs` and their upstream runs that `store` lacks, in waves: every run's
    upstream runs are stored or in an earlier wave; plan order within a wave."""
    missing = missing_runs(store, configs)
    depth: dict[str, int] = {}
    for run_id, config in missing.items():  # upstream runs come first in `missing`
        depth[run_id] = 1 + max((depth[u.run_id] for u in config.upstream if u.run_id in depth), default=-1)
    waves: list[list[TrainConfig]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for run_id, config in missing.items():
        waves[depth[run_id]].append(config)
    return waves


def train_job(config_json: str, store_root: str, runtime: dict, threads: int | None = None) -> str:
    """One job: train (or load) one run into the store with `threads` torch threads (None: the
    job's cores); returns its run id."""
    if threads is not None:
        torch.set_num_threads(threads)
    config = TrainConfig.from_dict(json.loads(config_json))
    run_or_load(config, ResultStore(store_root), Runtime(**runtime))
    return config.run_id


def submit_runs(store: ResultStore, runtime: Runtime, configs: Iterable[TrainConfig], settings: ClusterSettings, *,
                wait: bool = True, progress: Callable[[str], None] | None = print) -> list:
    """Submit the runs of `configs` that `store` lacks as job arrays, wave by wave; with `wait`,
    return once every job has ended and raise if one failed (naming its run and its log).
    Returns the submitit jobs."""
    import submitit  # imported by the cluster path only

    say = progress or (lambda message: None)
    waves = dependency_waves(store, configs)
    executor = submitit.AutoExecutor(folder=settings.folder, cluster="slurm" if settings.executor == "slurm" else "local")
    runtime_fields = {**asdict(runtime), "progress": False}
    jobs, after = [], None
    for number, wave in enumerate(waves, 1):
        executor.update_parameters(name=f"paperlib-wave{number}", **settings.parameters(after))
        if settings.executor == "slurm":
            wave_jobs = _submit(executor, wave, store, runtime_fields, None)
            after = wave_jobs[0].job_id.split("_")[0]
            say(f"wave {number}/{len(waves)}: {len(wave)} training(s) submitted as job array {after}"
                + (" after the one before" if number > 1 else ""))
            jobs += list(zip(wave, wave_jobs))
            continue
        # no dependencies or array limits outside SLURM: as many jobs at once as there are cores,
        # each with its share of them, and this wave ends before the next starts
        at_once = settings.array_parallelism or usable_cores()
        for start in range(0, len(wave), at_once):
            chunk = wave[start:start + at_once]
            chunk_jobs = _submit(executor, chunk, store, runtime_fields, max(1, usable_cores() // len(chunk)))
            say(f"wave {number}/{len(waves)}: {len(chunk)} training(s) started as processes")
            jobs += list(zip(chunk, chunk_jobs))
            _wait(list(zip(chunk, chunk_jobs)), say)
    if wait and settings.executor == "slurm":
        _wait(jobs, say)
    return [job for _, job in jobs]


def _submit(executor, configs: Sequence[TrainConfig], store: ResultStore, runtime: dict, threads: int | None) -> list:
    n = len(configs)
    return executor.map_array(train_job, [c.to_json() for c in configs], [str(store.root)] * n, [runtime] * n,
                              [threads] * n)


def _wait(jobs: Sequence[tuple[TrainConfig, object]], say: Callable[[str], None]) -> None:
    failed = []
    for config, job in jobs:
        try:
            job.result()
        except Exception as err:  # a failed, cancelled or killed job: its log says why
            failed.append(f"{describe(config)}: job {job.job_id} ({type(err).__name__}; log {job.paths.stderr})")
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) did not store their run; run the command again to resubmit "
                           "what is missing: " + "; ".join(failed))
    say(f"{len(jobs)} job(s) done")


def submit_series(study: Study, notebooks: Sequence[str], settings: ClusterSettings, *, wait: bool = True,
                  progress: Callable[[str], None] | None = print) -> list:
    """Every training `notebooks` run at their default parameters (series.notebooks), bound to
    the study's data (prepared here first if it is not), submitted where the store lacks it."""
    if not study.prepared():
        prepare_data(study)
    configs = [study.bind(c) for nb in notebooks for part in notebook_plans(study, nb).values() for _, c in part]
    Path(settings.folder).mkdir(parents=True, exist_ok=True)
    return submit_runs(study.store, study.runtime, configs, settings, wait=wait, progress=progress)


__all__ = ["EXECUTORS", "ClusterSettings", "dependency_waves", "submit_runs", "submit_series", "train_job"]
