"""The series' trainings as cluster jobs (series.cluster): dependency waves, the SLURM parameters
of each wave, and submitit's local executor for real, with one job killed mid-run and resumed
by running the submission again."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from paperlib.data import prepare
from paperlib.data.tiny import write_tiny_tree
from paperlib.series.cluster import ClusterSettings, dependency_waves, submit_runs
from paperlib.series.plans import svd_plan
from paperlib.series.study import Study
from paperlib.train.identity import bind_data
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore

DOMAINS = ("imagenet12", "dtd", "svhn")


def test_waves_put_every_run_after_the_runs_it_starts_from(tmp_path):
    study = Study(profile="smoke", results_dir=str(tmp_path), replicates=1)
    waves = dependency_waves(study.store, [c for _, c in svd_plan(study, targets=["dtd", "svhn"])])
    assert [[c.method for c in wave] for wave in waves] == [["scratch"], ["parallel", "parallel"], ["svd", "svd"]]
    seen = set()
    for wave in waves:
        assert all(u.run_id in seen for c in wave for u in c.upstream)
        seen |= {c.run_id for c in wave}


def test_slurm_waves_wait_for_the_array_before_them():
    settings = ClusterSettings(executor="slurm", partition="gpu", gpus_per_node=2, timeout_min=90,
                               extra=(("account", "vision"),))
    first, later = settings.parameters(), settings.parameters(after="4242")
    assert first["slurm_partition"] == "gpu" and first["gpus_per_node"] == 2 and first["timeout_min"] == 90
    assert first["slurm_additional_parameters"] == {"account": "vision"}
    assert later["slurm_additional_parameters"] == {"account": "vision", "dependency": "afterok:4242"}
    assert "slurm_partition" not in ClusterSettings(executor="processes").parameters()
    with pytest.raises(ValueError, match="executor"):
        ClusterSettings(executor="local")


def _tiny(tmp_path):
    root = tmp_path / "data"
    write_tiny_tree(root, domains=DOMAINS, classes=3, per_class=(8, 2, 2), size=(40, 40))
    prepare(root, root / "cache-40", DOMAINS, ("train", "val", "test"), size=40, workers=1)
    return str(root / "cache-40")


def _configs(cache: str, *, epochs: int) -> list[TrainConfig]:
    """A source network of `epochs` epochs and two adaptations of it, bound to the tiny data."""
    common = dict(width=0.125, batch_size=8, profile="smoke", train_limit_batches=1, eval_limit_batches=1)
    source = TrainConfig(method="scratch", domains=("imagenet12",), epochs=epochs, eval_splits=("val",), **common)
    adapt = [TrainConfig(method=m, domains=(d,), pretrained=(source,), epochs=1, **common)
             for m, d in (("parallel", "dtd"), ("finetune", "svhn"))]
    return [bind_data(c, cache) for c in (source, *adapt)]


def _kill_the_job_training(store: ResultStore, config: TrainConfig, *, timeout: float = 120) -> None:
    """SIGKILL the job process that trains `config` once its first checkpoint is written."""
    deadline = time.monotonic() + timeout
    while not store.checkpoint_path(config).exists():
        assert time.monotonic() < deadline, "the job never wrote its checkpoint"
        time.sleep(0.05)
    jobs = [p for p in psutil.Process().children(recursive=True) if "submitit" in " ".join(p.cmdline())]
    assert jobs, "no job process found"
    for job in jobs:
        os.kill(job.pid, signal.SIGKILL)


@pytest.mark.slow
def test_local_jobs_store_every_run_and_a_killed_one_resumes_on_resubmission(tmp_path):
    cache = _tiny(tmp_path)
    store = ResultStore(tmp_path / "results")
    settings = ClusterSettings(executor="processes", folder=str(tmp_path / "jobs"), timeout_min=10)
    runtime = Runtime(data_dir=cache, device="cpu")
    configs = _configs(cache, epochs=30)
    source = configs[0]

    failure: list[BaseException] = []

    def first_submission() -> None:
        try:
            submit_runs(store, runtime, configs, settings, progress=None)
        except BaseException as err:  # noqa: BLE001 - the killed job's error is what the test expects
            failure.append(err)

    thread = threading.Thread(target=first_submission)
    thread.start()
    _kill_the_job_training(store, source)
    thread.join(timeout=120)
    assert failure and "did not store their run" in str(failure[0])
    assert not store.exists(source) and store.checkpoint_path(source).exists()  # killed mid-run, checkpoint kept

    messages = []
    jobs = submit_runs(store, runtime, configs, settings, progress=messages.append)  # again: only what is missing
    assert len(jobs) == 3 and all(store.exists(c) for c in configs)
    record = store.load(source)
    assert record["resumed_from_epoch"] >= 1 and len(record["history"]) == 30  # resumed, not restarted
    assert any("wave 2/2" in m for m in messages)
    assert submit_runs(store, runtime, configs, settings, progress=None) == []  # stored: nothing submitted
