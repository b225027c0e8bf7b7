"""Independent trainings of one plan side by side, in worker processes (issue 12).

A notebook's plan holds many small trainings that do not depend on each other (nine target
domains of one Table 1 row, say). On a 2-core CPU one training with one torch thread uses a
core well, while one training with two threads loses to OpenMP barriers whenever the cores are
shared (benchmarks/README.md). So `train_side_by_side` runs the runs the store lacks in
`workers` processes, one torch thread each, and returns when all are stored; `run_all` then
loads them like any stored run, so its rows are those of the serial path.

- Dependencies: a run is started only once every run it starts from (`TrainConfig.upstream`:
  the pretrained network, the adapters an SVD compresses) is stored; those are trained here
  too, first. At most `workers` run at a time.
- Order: of the runs that can start, the one with the longest chain of estimated work ahead of
  it starts first (its own training FLOPs plus the longest chain of the runs that wait for it;
  `critical_path_order`). The longest trainings then never start last, where one of them would
  run alone while the other cores idle: notebook 01's wider source net trained its last 10
  minutes alone in plan order. The order changes only when runs finish, never what they compute.
- Identity: each run is seeded by its spec, and a worker trains it exactly as the serial path
  does (`train.run_or_load`, under the run's lock, so two notebooks or two pools never train one
  run twice). With the same thread count (one) the records match the serial path's bit for bit
  (weights, metrics, losses; not the timings); a serial process with more threads may differ in
  the last bits, as any two thread counts may.
- Interruption: a worker killed mid-run leaves the run's checkpoint and releases its lock, so
  the next call (serial or parallel) resumes it like a serial run.
- Processes are forked on the CPU (they start at once and need no `if __name__ == "__main__"`
  guard in a calling script; they run one OpenMP thread, so the parent's OpenMP pool is never
  used after the fork) and spawned when the device is CUDA (a CUDA context cannot be forked;
  a calling script then needs the `__main__` guard, as for any spawned multiprocessing).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import torch

from .config import Runtime, TrainConfig
from .profiles import Profile
from .results import ResultStore


def default_workers(profile: Profile, device: str) -> int:
    """Trainings side by side when the study does not say: 2 on the CPU for the mini profile
    (small networks, one core each, trainings of thousands of steps), 1 otherwise: on CUDA one
    device runs one training at a time best; full on a CPU: one large network uses the cores;
    smoke (and dry runs, `limit_batches` set): 3 steps per epoch, where starting workers and
    loading the data in each cost more than they save (measured: the smoke series 1.12x slower
    with 2 workers, benchmarks/README.md)."""
    long_trainings = profile.mini_scale is not None and profile.limit_batches is None
    return 2 if long_trainings and not _uses_cuda(device) else 1


def _uses_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


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


def estimated_flops(config: TrainConfig, cache_dir: str | Path) -> float:
    """A run's training FLOPs (`reproduce.training_images` x `training_flops_per_image`), its
    images counted from the prepared cache's manifests (0 for a split that is not prepared)."""
    from .reproduce import prepared_count, training_flops_per_image, training_images

    def train_size(domain: str) -> int:
        splits = ("train", "val") if config.train_split == "trainval" else (config.train_split,)
        return sum(prepared_count(cache_dir, domain, split) or 0 for split in splits)

    per_image = training_flops_per_image(config.width, config.crop or 64, adapter=config.adapter,
                                         placement=config.placement, method=config.method)
    return training_images(config, train_size) * per_image


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


def _start_worker() -> None:
    """One torch thread per worker (why: the module docstring and config.Runtime)."""
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _train_one(config: TrainConfig, store_root: str, runtime: Runtime) -> float:
    """In a worker: train (or load) one run into the store; returns the worker's seconds."""
    from .train import run_or_load

    started = time.perf_counter()
    run_or_load(config, ResultStore(store_root), runtime)
    return time.perf_counter() - started


def _describe(config: TrainConfig) -> str:
    return f"{config.method} on {'+'.join(config.domains)} ({config.run_id[:8]})"


def train_side_by_side(store: ResultStore, runtime: Runtime, configs: Iterable[TrainConfig], workers: int, *,
                       progress: Callable[[str], None] | None = print) -> list[str]:
    """Train every run of `configs` (bound specs) and their upstream runs that `store` lacks,
    `workers` at a time in spawned processes; returns the run ids trained. A failing run raises
    its error here once the runs already started have finished (their records are kept)."""
    pending = missing_runs(store, configs)
    if not pending:
        return []
    pending = critical_path_order(pending, lambda config: estimated_flops(config, runtime.data_dir))
    say = progress or (lambda message: None)
    runtime = dataclasses.replace(runtime, progress=False)  # no interleaved progress bars
    total, trained = len(pending), []
    context = multiprocessing.get_context("spawn" if _uses_cuda(runtime.device) else "fork")
    if context.get_start_method() == "fork":
        # every optimizer's constructor imports torch._dynamo (1.5 to 5 s); imported once here,
        # the forked workers share it instead of each paying for it
        import torch._dynamo  # noqa: F401
    running: dict[Future, tuple[TrainConfig, int]] = {}
    with ProcessPoolExecutor(max_workers=min(workers, total), mp_context=context, initializer=_start_worker) as pool:
        try:
            while pending or running:
                for run_id, config in list(pending.items()):
                    if len(running) >= workers:
                        break
                    if all(store.exists(source) for source in config.upstream):
                        number = total - len(pending) + 1
                        del pending[run_id]
                        say(f"[{number}/{total}] started {_describe(config)}")
                        running[pool.submit(_train_one, config, str(store.root), runtime)] = (config, number)
                if not running:
                    raise RuntimeError(f"no run can start: their upstream runs are neither stored nor planned "
                                       f"({', '.join(_describe(c) for c in pending.values())})")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    config, number = running.pop(future)
                    seconds = future.result()  # a failed training raises here
                    trained.append(config.run_id)
                    say(f"[{number}/{total}] done {_describe(config)} in {seconds:.0f} s")
        except BaseException:
            for future in running:
                future.cancel()
            pending.clear()
            raise
    return trained


__all__ = ["critical_path_order", "default_workers", "estimated_flops", "missing_runs", "train_side_by_side"]
