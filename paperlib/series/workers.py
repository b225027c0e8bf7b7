"""Independent trainings of one plan side by side, in worker processes.

A notebook's plan holds many small trainings that do not depend on each other (nine target
domains of one Table 1 row, say). On a 2-core CPU one training with one torch thread uses a
core well, while one training with two threads loses to OpenMP barriers whenever the cores are
shared (benchmarks/README.md). So `train_side_by_side` runs the runs the store lacks in worker
processes placed by `plan_slots` from what the machine offers (every usable core, one training
each, as far as the memory holds; one or more per GPU), and returns when all are stored;
`run_all` then loads them like any stored run, so its rows are those of the serial path.

- Dependencies: a run is started only once every run it starts from (`TrainConfig.upstream`:
  the pretrained network, the adapters an SVD compresses) is stored; those are trained here
  too, first. At most a slot's `workers` run at a time on its device.
- Order: of the runs that can start, the one with the longest chain of estimated work ahead of
  it starts first (its own training FLOPs plus the longest chain of the runs that wait for it;
  `critical_path_order`). The longest trainings then never start last, where one of them would
  run alone while the other cores idle: notebook 01's wider source net trained its last 10
  minutes alone in plan order. The order changes only when runs finish, never what they compute.
- Identity: each run is seeded by its spec, and a worker trains it exactly as the serial path
  does (`train.run.run_or_load`, under the run's lock, so two notebooks or two pools never train
  one run twice). With the same thread count the records match the serial path's bit for bit
  (weights, metrics, losses; not the timings); other thread counts may differ in the last bits.
- Interruption: a worker killed mid-run leaves the run's checkpoint and releases its lock, so
  the next call (serial or parallel) resumes it like a serial run.
- Processes are forked on the CPU (they start at once and need no `if __name__ == "__main__"`
  guard in a calling script; the parent's OpenMP pool is never used after the fork) and spawned
  when the device is CUDA (a CUDA context cannot be forked; a calling script then needs the
  `__main__` guard, as for any spawned multiprocessing).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import torch

from paperlib.core.machine import available_memory, cuda_devices, usable_cores
from paperlib.series.cost import estimated_flops
from paperlib.series.study import Study
from paperlib.train.profiles import Profile
from paperlib.train.run import run_or_load
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore


@dataclass(frozen=True)
class Slot:
    """Trainings side by side on one device: how many at once, with how many torch threads each."""

    device: str  # "cpu" or "cuda:N"
    workers: int
    threads: int


# Peak resident memory of one mini worker, at most: the mini series with two workers peaked at
# 3,116 MiB for the notebook's kernel and both workers (README, series times), so 1.5 GiB a worker
# leaves room; the other profiles train one run at a time on the CPU.
WORKER_MEMORY = 1.5 * 2**30
KERNEL_MEMORY = 1.5 * 2**30  # the notebook's own process, which holds the plans and the results


def plan_slots(settings: Profile, device: str, *, workers: int | None = None, runs_per_gpu: int = 1,
               cores: int | None = None, memory: int | None = None, gpus: int | None = None) -> tuple[Slot, ...]:
    """Where the trainings of a plan run side by side on this machine (`core.machine` tells the
    cores this process may use, its free memory and its GPUs; tests pass them).

    - CUDA (`device` cuda, or auto with a GPU): one slot per visible GPU (or the one named),
      `runs_per_gpu` trainings on each (one: sharing a GPU between small runs is not measured
      yet), the cores shared out as threads.
    - CPU, small long trainings (the MiniDecathlon without step limits): one training per usable
      core, one thread each (two threads on a shared core lose to OpenMP barriers; benchmarks/
      README.md), as many as the free memory holds at `WORKER_MEMORY` each; fewer workers share
      the cores out as threads.
    - CPU, anything else (smoke and dry runs, whose 2 or 3 steps a training cost less than a
      worker's start, measured 1.12x slower with two workers; full, one large network): one
      training at a time with every core.

    `workers` (`--workers`) fixes the number of trainings side by side instead."""
    cores = usable_cores() if cores is None else cores
    gpus = (cuda_devices() if device in ("auto", "cuda") or device.startswith("cuda") else 0) if gpus is None else gpus
    if device.startswith("cuda:"):
        devices = [device]
    elif gpus > 0 and device != "cpu":
        devices = [f"cuda:{i}" for i in range(gpus)]
    else:
        devices = []
    if devices:
        total = workers or len(devices) * runs_per_gpu
        per = [total // len(devices) + (i < total % len(devices)) for i in range(len(devices))]
        threads = max(1, cores // total)
        return tuple(Slot(d, n, threads) for d, n in zip(devices, per) if n > 0)
    if workers is None:
        small_and_long = settings.mini_scale is not None and settings.limit_batches is None
        if small_and_long:
            memory = available_memory() if memory is None else memory
            workers = max(1, min(cores, int((memory - KERNEL_MEMORY) // WORKER_MEMORY)))
        else:
            workers = 1
    return (Slot("cpu", workers, max(1, cores // workers)),)


def study_slots(study: Study) -> tuple[Slot, ...]:
    """Where `running.run_all` trains the study's runs side by side on this machine (runtime, not
    spec: never in a run id)."""
    return plan_slots(study.settings, study.device, workers=study.workers, runs_per_gpu=study.runs_per_gpu)


def describe_slots(slots: tuple[Slot, ...]) -> str:
    """The placement in words, e.g. "cpu: 2 x 1 thread" or "cuda:0: 1 x 8 threads, cuda:1: ..."."""
    return ", ".join(f"{s.device}: {s.workers} x {s.threads} thread{'s' if s.threads > 1 else ''}" for s in slots)


def side_by_side(slots: tuple[Slot, ...]) -> int:
    """How many trainings run at once in `slots`."""
    return sum(slot.workers for slot in slots)


def missing_runs(store: ResultStore, configs: Iterable[TrainConfig]) -> dict[str, TrainConfig]:
    """run_id -> spec of every run of `configs` and their upstream runs that `store` lacks,
    upstream runs before the runs that start from them, otherwise in plan order."""
    missing: dict[str, TrainConfig] = {}

    def visit(config: TrainConfig) -> None:
        if config.run_id in missing or store.exists(config):
            return
        for source in config.upstream:
            visit(source)
        missing[config.run_id] = config

    for config in configs:
        visit(config)
    return missing


def critical_path_order(runs: dict[str, TrainConfig], cost: Callable[[TrainConfig], float]) -> dict[str, TrainConfig]:
    """`runs` (upstream runs before the runs that start from them) sorted by the work on the
    longest chain that starts with each run: its cost plus the largest such figure among the
    runs of `runs` that start from it. Upstream runs still come first (their chain is longer);
    ties keep plan order."""
    dependents: dict[str, list[str]] = {run_id: [] for run_id in runs}
    for run_id, config in runs.items():
        for source in config.upstream:
            if source.run_id in dependents:
                dependents[source.run_id].append(run_id)
    chain: dict[str, float] = {}
    for run_id, config in reversed(list(runs.items())):  # a run's dependents come after it
        chain[run_id] = cost(config) + max((chain[d] for d in dependents[run_id]), default=0.0)
    position = {run_id: i for i, run_id in enumerate(runs)}
    return {run_id: runs[run_id] for run_id in sorted(runs, key=lambda r: (-chain[r], position[r]))}


def _start_worker(threads: int) -> None:
    """A worker's torch threads (why one on a shared core: the module docstring), and its Ctrl-C:
    the terminal's interrupt reaches every worker; each leaves at once and quietly (its run
    resumes from its last epoch's checkpoint, written atomically), while the notebook that started
    it says where the series stopped."""
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(128 + signum))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _train_one(config: TrainConfig, store_root: str, runtime: Runtime) -> float:
    """In a worker: train (or load) one run into the store; returns the worker's seconds."""
    started = time.perf_counter()
    run_or_load(config, ResultStore(store_root), runtime)
    return time.perf_counter() - started


def describe(config: TrainConfig) -> str:
    return f"{config.method} on {'+'.join(config.domains)} ({config.run_id[:8]})"


def train_side_by_side(store: ResultStore, runtime: Runtime, configs: Iterable[TrainConfig],
                       slots: tuple[Slot, ...], *, progress: Callable[[str], None] | None = print) -> list[str]:
    """Train every run of `configs` (bound specs) and their upstream runs that `store` lacks, in
    worker processes (`slots`: per device, how many at once with how many threads); returns the
    run ids trained. A failing run raises its error here once the runs already started have
    finished (their records are kept)."""
    pending = missing_runs(store, configs)
    if not pending:
        return []
    pending = critical_path_order(pending, lambda config: estimated_flops(config, runtime.data_dir))
    say = progress or (lambda message: None)
    runtime = dataclasses.replace(runtime, progress=False)  # no interleaved progress bars
    total, trained = len(pending), []
    cuda = any(slot.device.startswith("cuda") for slot in slots)
    context = multiprocessing.get_context("spawn" if cuda else "fork")
    if not cuda:
        # every optimizer's constructor imports torch._dynamo (1.5 to 5 s); imported once here,
        # the forked workers share it instead of each paying for it
        import torch._dynamo  # noqa: F401
    running: dict[Future, tuple[TrainConfig, int, Slot]] = {}
    pools = {slot: ProcessPoolExecutor(max_workers=min(slot.workers, total), mp_context=context,
                                       initializer=_start_worker, initargs=(slot.threads,)) for slot in slots}
    busy = dict.fromkeys(slots, 0)
    try:
        while pending or running:
            for run_id, config in list(pending.items()):
                free = [slot for slot in slots if busy[slot] < slot.workers]
                if not free:
                    break
                if all(store.exists(source) for source in config.upstream):
                    slot, number = free[0], total - len(pending) + 1
                    del pending[run_id]
                    busy[slot] += 1
                    say(f"[{number}/{total}] started {describe(config)}" + (f" on {slot.device}" if cuda else ""))
                    task_runtime = dataclasses.replace(runtime, device=slot.device) if cuda else runtime
                    running[pools[slot].submit(_train_one, config, str(store.root), task_runtime)] = (config, number, slot)
            if not running:
                raise RuntimeError(f"no run can start: their upstream runs are neither stored nor planned "
                                   f"({', '.join(describe(c) for c in pending.values())})")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                config, number, slot = running.pop(future)
                busy[slot] -= 1
                seconds = future.result()  # a failed training raises here
                trained.append(config.run_id)
                say(f"[{number}/{total}] done {describe(config)} in {seconds:.0f} s")
    except BaseException:
        for future in running:
            future.cancel()
        raise
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True)
    return trained


__all__ = ["KERNEL_MEMORY", "Slot", "WORKER_MEMORY", "critical_path_order", "describe", "describe_slots", "missing_runs",
           "plan_slots",
           "side_by_side", "train_side_by_side"]
