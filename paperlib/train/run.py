"""`paperlib train` and `run_or_load`: the results store around the engine (engine.py).

    paperlib train --config cfg.json [--results DIR] [--data-dir DIR] [--device cpu]
    torchrun --nproc-per-node 8 -m paperlib.cli train --config cfg.json   # several GPUs

A run is found in the store by its spec (`TrainConfig.run_id`); where the data is, which device
runs it and whether it is compiled (`Runtime`) never change which run it is. Without --results and
--data-dir a config exported from the series (`paperlib reproduce --plan --export-configs`) reads
and writes where the series does, from any working directory: results/ and the profile's data in
the project, for a MiniDecathlon the generation of the config's data seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from paperlib.core.paths import project_root
from paperlib.model.weights import save_model
from paperlib.train.engine import Loader, train
from paperlib.train.identity import bind_data, data_identity, is_prepared
from paperlib.train.lock import run_lock
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore, make_record


def run_or_load(config: TrainConfig, store: ResultStore | str | os.PathLike = "results",
                runtime: Runtime | None = None, *, loader: Loader | None = None, overwrite: bool = False,
                keep_checkpoint: bool = False) -> dict:
    """The stored record of `config`, training first only if there is none (or `overwrite`).

    Notebooks call this, so rerunning one costs nothing once its runs are stored. Upstream runs
    (`config.upstream`) must be stored already: their weights are read from the store. After
    training, rank 0 writes the final weights, the predictions and then the record (in that
    order, each atomically) and deletes the checkpoint unless `keep_checkpoint`. The run's lock
    (runlock) makes a second process asking for the same run wait, then load; an unreadable record
    is deleted and the run trained again.
    """
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    with run_lock(store.record_path(config)):  # a second process on this run waits, then loads
        return _run_or_load(config, store, runtime or Runtime(), loader=loader, overwrite=overwrite,
                            keep_checkpoint=keep_checkpoint)


def _run_or_load(config: TrainConfig, store: ResultStore, runtime: Runtime, *, loader: Loader | None,
                 overwrite: bool, keep_checkpoint: bool) -> dict:
    if not overwrite:
        record = store.load(config, rebuild=True)  # an unreadable record is deleted and the run retrained
        if record is not None:
            return record
    if config.data and loader is None:
        found = data_identity(runtime.data_dir, config.domains, config.data_splits)
        if found != config.data:
            raise ValueError(f"the data at {runtime.data_dir} (identity {found}) is not the data of this run "
                             f"({config.data}); point the runtime's data_dir at that data or rebind the spec")
    result = train(config, runtime, loader=loader, checkpoint=store.checkpoint_path(config),
                   pretrained=store.pretrained_files(config))
    record = make_record(config, model=result.model, metrics=result.metrics, history=result.history,
                         wall_time_s=result.wall_time_s, device=result.device, world_size=result.world_size,
                         resumed_from_epoch=result.resumed_from_epoch, files=store.file_names(config),
                         runtime=runtime, metrics_best=result.metrics_best, best_epoch=result.best_epoch)
    if result.rank == 0:
        save_model(store.weights_path(config), result.model, config)
        store.save_predictions(config, result.predictions)
        store.save(record, overwrite=overwrite)
        if not keep_checkpoint:
            store.checkpoint_path(config).unlink(missing_ok=True)
    return record


def split_config(values: dict) -> tuple[TrainConfig, Runtime]:
    """A JSON object of TrainConfig fields (and, optionally, Runtime fields) as (spec, runtime).
    With a "profile" key the profile's defaults (profiles.Profile) fill the rest of both. The
    runtime's default data is the profile's under the project root, for a generated MiniDecathlon
    the generation of the spec's data seed (`TrainConfig.subset_seed`), as in the series."""
    runtime_keys = {f.name for f in dataclasses.fields(Runtime)}
    profile = values.pop("profile", "full")
    runtime_fields = {k: values.pop(k) for k in list(values) if k in runtime_keys}
    config = TrainConfig.for_profile(profile, **values)
    return config, Runtime.for_profile(profile, seed=config.subset_seed, **runtime_fields)


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib train`, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib train", description=main.__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="JSON file of TrainConfig (and Runtime) fields")
    p.add_argument("--results", default=None, help="the results store (default: results/ in the project, "
                                                   "where the series stores its runs and this one's upstream runs)")
    p.add_argument("--data-dir", help="the prepared cache (default: the config's data_dir, else the profile's "
                                      "under the project root, for a MiniDecathlon the generation of the config's "
                                      "data seed)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (default: the config's device, else auto)")
    p.add_argument("--overwrite", action="store_true", help="train again and replace the stored record")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the last checkpoint after the run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`paperlib train --config cfg.json [--results DIR]`: run (or load) one config, print its metrics."""
    args = parser().parse_args(argv)
    try:
        values = json.loads(Path(args.config).read_text())
        if not isinstance(values, dict):
            raise ValueError(f"{args.config} must hold a JSON object of TrainConfig fields")
        config, runtime = split_config(values)
        given = {k: v for k, v in (("data_dir", args.data_dir), ("device", args.device)) if v}
        runtime = dataclasses.replace(runtime, **given)
        if not config.data and is_prepared(runtime.data_dir, config.domains, config.data_splits):
            config = bind_data(config, runtime.data_dir)  # the same run as the series' (exported plans)
    except (OSError, ValueError, TypeError) as err:
        print(f"paperlib train: {err}", file=sys.stderr)
        return 2
    store = args.results or project_root() / "results"
    print(f"paperlib train: the data at {runtime.data_dir}, the store at {store}", file=sys.stderr)
    record = run_or_load(config, store, runtime, overwrite=args.overwrite, keep_checkpoint=args.keep_checkpoint)
    print(json.dumps({"run_id": record["run_id"], "metrics": record["metrics"],
                      "wall_time_s": record["wall_time_s"]}, indent=1))
    return 0


__all__ = ["run_or_load", "split_config", "parser", "main"]
