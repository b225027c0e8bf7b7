"""The results store: maps a run's spec to its files, one JSON record per finished run.

Layout under the store's root (default `results/`), per profile:

    results/<profile>/<run_id>.json                    the record (written last, atomically)
    results/<profile>/<run_id>.safetensors             final weights (+ model config in the header)
    results/<profile>/<run_id>.predictions.safetensors  predicted labels and image ids per eval split
    results/<profile>/<run_id>.ckpt                    the checkpoint of a run in progress

`run_id` is 16 hex digits of the SHA-256 of the spec's stable JSON (`TrainConfig.run_id`): the
same spec always maps to the same files, any change of what decides the result to new ones;
where the store, the data or the device is does not enter (the `Runtime`, kept in the record for
information only). Upstream runs named in a spec's `pretrained` are found here too
(`pretrained_files`). Stores written before record format 2 (whose ids hashed paths and devices)
are not migrated: their runs are simply not found. A record holds the spec, the runtime,
per-domain accuracies per eval split, parameter counts (`sizes.count_parameters`), the
per-epoch history, wall time, device, library versions and when it finished. Records are never
overwritten silently: saving a different record under an existing id raises unless overwrite=True.

`load_records(dir)` gathers every record below `dir` into one pandas DataFrame, one row per run
and domain (columns in its docstring).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file, save

from paperlib import __version__
from paperlib.core.errors import BadFileError
from paperlib.core.files import check_safetensors, read_json, safetensors_problem, write_bytes, write_json
from paperlib.model.sizes import count_parameters
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig

RECORD_FORMAT = 2  # 2: run ids hash the spec only (no paths, no device)
RECORD_ADVICE = "delete it and rerun: the run is trained again"
RECORD_KEYS = ("run_id", "config", "metrics", "parameters", "history", "wall_time_s", "device", "finished")


class RecordExistsError(FileExistsError):
    """A different record is already stored under this run id."""


class ResultStore:
    """Records, weights, predictions and checkpoints of runs, by profile and run id."""

    def __init__(self, root: str | os.PathLike = "results"):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    # ------------------------------------------------------------ paths

    def _base(self, config: TrainConfig) -> Path:
        return self.root / config.profile / config.run_id

    def record_path(self, config: TrainConfig) -> Path:
        return self._base(config).with_suffix(".json")

    def weights_path(self, config: TrainConfig) -> Path:
        return self._base(config).with_suffix(".safetensors")

    def predictions_path(self, config: TrainConfig) -> Path:
        return self._base(config).with_suffix(".predictions.safetensors")

    def checkpoint_path(self, config: TrainConfig) -> Path:
        return self._base(config).with_suffix(".ckpt")

    def pretrained_files(self, config: TrainConfig) -> list[Path]:
        """The weight files of `config.pretrained`: an upstream spec's from this store (which must
        hold it), a path as given."""
        files = []
        for entry in config.pretrained:
            path = Path(entry) if isinstance(entry, str) else self.weights_path(entry)
            if not isinstance(entry, str) and not path.is_file():
                raise FileNotFoundError(f"{path}: upstream run {entry.run_id} ({entry.method} on "
                                        f"{'+'.join(entry.domains)}) is not in {self.root}; train it first")
            files.append(path)
        return files

    def file_names(self, config: TrainConfig) -> dict[str, str]:
        """The run's files, relative to the record's folder (stored in the record)."""
        return {"weights": self.weights_path(config).name, "predictions": self.predictions_path(config).name}

    # ------------------------------------------------------------ records

    def load(self, config: TrainConfig, *, rebuild: bool = False) -> dict | None:
        """The stored record of `config`, or None. A record that is unreadable, incomplete, of
        another run, or whose weights file is truncated raises BadFileError; with `rebuild` the
        record (and its broken weights) are deleted with a warning instead, and None comes back
        so that the caller trains the run again (deterministic: the same numbers come back)."""
        path = self.record_path(config)
        if not path.is_file():
            return None
        try:
            return self._checked(path, config)
        except BadFileError as err:
            if not rebuild:
                raise
            warnings.warn(f"{err.path}: {err.problem}; deleted it and the run's record, training the run again",
                          stacklevel=2)
            for stale in (path, self.weights_path(config), self.predictions_path(config)):
                stale.unlink(missing_ok=True)
            return None

    def _checked(self, path: Path, config: TrainConfig) -> dict:
        record = read_json(path, advice=RECORD_ADVICE)
        check_record(record, path)
        if record["run_id"] != config.run_id:
            raise BadFileError(path, f"holds run {record['run_id']}, not {config.run_id}", RECORD_ADVICE)
        for kind, name in record.get("files", {}).items():  # detect a truncated file before it is used
            if (path.parent / name).is_file():
                problem = safetensors_problem((path.parent / name).read_bytes())
                if problem is not None:
                    raise BadFileError(path.parent / name, f"{kind} file: {problem}", RECORD_ADVICE)
        return record

    def exists(self, config: TrainConfig) -> bool:
        return self.record_path(config).is_file()

    def save(self, record: Mapping[str, Any], *, overwrite: bool = False) -> Path:
        """Write a record (atomically). An identical record is a no-op; a different one under the
        same id raises RecordExistsError unless `overwrite`."""
        config = TrainConfig.from_dict(record["config"])
        if config.run_id != record["run_id"]:
            raise ValueError(f"record run_id {record['run_id']} does not match its config ({config.run_id})")
        path = self.record_path(config)
        if path.is_file() and not overwrite:
            try:
                stored = read_json(path)
            except BadFileError:  # a broken record of this run: the new one replaces it
                stored = None
            if stored == _json_roundtrip(record):
                return path
            if stored is not None:
                raise RecordExistsError(f"{path} already holds a different record of run {config.run_id}; "
                                        "pass overwrite=True to replace it")
        write_json(path, dict(record), sort_keys=True)
        return path

    # ------------------------------------------------------------ predictions

    def save_predictions(self, config: TrainConfig,
                         predictions: Mapping[str, Mapping[str, tuple[torch.Tensor, torch.Tensor]]]) -> Path:
        """{domain: {split: (image_ids, predicted labels)}} as safetensors
        ("<domain>/<split>/image_ids", "<domain>/<split>/labels")."""
        tensors = {}
        for domain, splits in predictions.items():
            for split, (ids, labels) in splits.items():
                tensors[f"{domain}/{split}/image_ids"] = ids.to("cpu", torch.int64).contiguous()
                tensors[f"{domain}/{split}/labels"] = labels.to("cpu", torch.int64).contiguous()
        path = self.predictions_path(config)
        write_bytes(path, save(tensors))
        return path

    def load_predictions(self, config: TrainConfig) -> dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """The inverse of `save_predictions` (for the Decathlon submission writer)."""
        path = self.predictions_path(config)
        check_safetensors(path, advice=f"delete it and {self.record_path(config).name}, then rerun the run")
        flat = load_file(path)
        out: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        for key in flat:
            domain, split, kind = key.split("/")
            if kind == "labels":
                out.setdefault(domain, {})[split] = (flat[f"{domain}/{split}/image_ids"], flat[key])
        return out

    def records(self, profile: str | None = None) -> pd.DataFrame:
        return load_records(self.root if profile is None else self.root / profile)


def make_record(config: TrainConfig, *, model: torch.nn.Module, metrics: Mapping[str, Mapping[str, float | None]],
                history: list[dict], wall_time_s: float, device: str, world_size: int = 1,
                resumed_from_epoch: int | None = None, files: Mapping[str, str] | None = None,
                runtime: Runtime | None = None, metrics_best: Mapping[str, Mapping[str, float | None]] | None = None,
                best_epoch: int | None = None) -> dict:
    """The JSON record of a finished run (the runtime is kept for information, not identity).
    "metrics" are the last epoch's; "metrics_best" the same splits with the weights of the epoch
    best on validation ("best_epoch"), None when the run evaluated no val split."""
    return {
        "format": RECORD_FORMAT,
        "run_id": config.run_id,
        "profile": config.profile,
        "config": config.to_dict(),
        "runtime": dataclasses.asdict(runtime) if runtime is not None else None,
        "metrics": {d: dict(splits) for d, splits in metrics.items()},
        "metrics_best": None if metrics_best is None else {d: dict(splits) for d, splits in metrics_best.items()},
        "best_epoch": best_epoch,
        "parameters": {"model": count_parameters(model),
                       "per_domain": {d: count_parameters(model, [d]) for d in config.domains}},
        "history": history,
        "wall_time_s": round(float(wall_time_s), 3),
        "device": device,
        "world_size": world_size,
        "resumed_from_epoch": resumed_from_epoch,  # None: trained in one go
        "versions": library_versions(),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": dict(files or {}),
    }


def library_versions() -> dict[str, str]:
    import numpy
    import safetensors

    return {"paperlib": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "safetensors": safetensors.__version__, "pandas": pd.__version__}


def load_records(directory: str | os.PathLike) -> pd.DataFrame:
    """Every record below `directory` (recursively) as one DataFrame, one row per run and domain.

    Columns: run_id, profile, domain, method, domains ("+"-joined, the run's), acc_<split> for
    each evaluated split (top-1 %, NaN where unlabelled or not evaluated), params_total (the whole
    model), params_domain (shared + that domain's own, `count_parameters(model, [domain])`),
    adapter / norm / head parameters of the domain, wall_time_s, device, finished, then every
    other TrainConfig field by name. Empty folder: an empty frame with the fixed columns.
    """
    rows = []
    for path in sorted(Path(directory).rglob("*.json")):
        record = read_json(path, advice=RECORD_ADVICE)
        if not isinstance(record, dict) or "run_id" not in record or "config" not in record:
            continue
        check_record(record, path)
        config = record["config"]
        fixed = {k: v for k, v in config.items() if k not in ("domains", "method", "profile")}
        # upstream specs by their run ids (a path entry as given)
        fixed["pretrained"] = [p if isinstance(p, str) else TrainConfig.from_dict(p).run_id
                               for p in config.get("pretrained", [])]
        for domain in config["domains"]:
            counts = record["parameters"]["per_domain"].get(domain, {})
            row = {"run_id": record["run_id"], "profile": record["profile"], "domain": domain,
                   "method": config["method"], "domains": "+".join(config["domains"])}
            for split, acc in record["metrics"].get(domain, {}).items():
                row[f"acc_{split}"] = float("nan") if acc is None else acc
            row.update(params_total=record["parameters"]["model"]["total"], params_domain=counts.get("total"),
                       params_adapter=counts.get("adapter"), params_norm=counts.get("norm"),
                       params_head=counts.get("head"), wall_time_s=record["wall_time_s"],
                       device=record["device"], finished=record["finished"])
            row.update({k: _hashable(v) for k, v in fixed.items()})
            rows.append(row)
    columns = ["run_id", "profile", "domain", "method", "domains"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def check_record(record: Any, path: Path) -> None:
    """BadFileError unless `record` (read from `path`) has every key of a record, in the known format."""
    if not isinstance(record, dict):
        raise BadFileError(path, f"holds a JSON {type(record).__name__}, not a run record", RECORD_ADVICE)
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise BadFileError(path, f"incomplete record (no {', '.join(missing)})", RECORD_ADVICE)
    if record.get("format") != RECORD_FORMAT:
        raise BadFileError(path, f"record format {record.get('format')!r}, expected {RECORD_FORMAT}", RECORD_ADVICE)


def _hashable(value: Any) -> Any:
    """JSON lists back to tuples (so DataFrame columns can be grouped by)."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _json_roundtrip(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, sort_keys=True))


__all__ = ["ResultStore", "RecordExistsError", "make_record", "load_records", "library_versions", "check_record"]
