"""Files that must survive a crash: training checkpoints, final weights, JSON records.

Every write goes to a temporary file in the target's folder, is flushed to disk, then renamed
over the target with `os.replace`: a reader (or a SIGKILL) sees the old file or the new one,
never half of one. Nothing here unpickles arbitrary objects: checkpoints are read with
`torch.load(weights_only=True)` (tensors, numbers, strings, lists, dicts only) and weights are
safetensors with a JSON header.

Checkpoints hold no RNG state: the engine re-seeds its generators at the start of every epoch
from (seed, epoch, rank), so the state at an epoch boundary is a function of the config alone.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .data import atomic
from .errors import BadFileError, first_line

CHECKPOINT_FORMAT = 1


# one implementation of atomic writes for the whole library (temp file, fsync, os.replace)
atomic_write_bytes = atomic.write_bytes


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Stable, human-readable JSON (sorted keys), written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike, *, advice: str = "delete it and rerun what wrote it") -> Any:
    """The JSON in `path`; a present file that is not valid JSON raises BadFileError."""
    try:
        return json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise BadFileError(path, f"not valid JSON, truncated or corrupt ({first_line(err)})", advice) from None


# ---------------------------------------------------------------- training checkpoints


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write a checkpoint: tensors, numbers, strings and containers of them (torch.save format)."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at `path` (on the CPU); an unreadable one raises BadFileError. Never unpickles code."""
    advice = "delete it and rerun: the run starts again from epoch 0"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise BadFileError(path, f"unreadable checkpoint, truncated or corrupt ({first_line(err)})", advice) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise BadFileError(path, f"checkpoint format {found!r}, expected {CHECKPOINT_FORMAT}", advice)
    return state


def load_checkpoint(path: str | os.PathLike, *, rebuild: bool = True) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none. A checkpoint can always be rebuilt
    (by training from the start), so with `rebuild` an unreadable one is deleted with a warning
    that names it, and None comes back; without, BadFileError."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read_checkpoint(path)
    except BadFileError as err:
        if not rebuild:
            raise
        warnings.warn(f"{path}: {err.problem}; deleted it, the run starts again from epoch 0", stacklevel=2)
        path.unlink(missing_ok=True)
        return None


def scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler) -> str:
    """A LR scheduler's state as JSON (MultiStepLR keeps a Counter, which older torch versions
    refuse to load with weights_only=True)."""
    state = dict(scheduler.state_dict())
    if isinstance(state.get("milestones"), Counter):
        state["milestones"] = sorted(state["milestones"].elements())
    return json.dumps(state)


def load_scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler, text: str) -> None:
    state = json.loads(text)
    if "milestones" in state:
        state["milestones"] = Counter(state["milestones"])
    scheduler.load_state_dict(state)


# ---------------------------------------------------------------- final weights


def save_weights(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> None:
    """A model's state dict as safetensors; `metadata` (JSON) goes in the header's "paperlib" key."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, st_save(tensors, metadata={"paperlib": json.dumps(dict(metadata), sort_keys=True)}))


WEIGHTS_ADVICE = "delete it and its record (.json) and rerun the notebook or run that wrote it"


def safetensors_problem(data: bytes) -> str | None:
    """What is wrong with a safetensors file's bytes (None: header and size are consistent).
    Cheap: parses the JSON header and checks that the file ends where its last tensor does."""
    if len(data) < 8:
        return f"{len(data)} bytes, shorter than a safetensors header"
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        return f"truncated: the header says {header_len} header bytes, the file has {len(data) - 8} after the length"
    try:
        header = json.loads(data[8:8 + header_len])
    except (ValueError, UnicodeDecodeError) as err:
        return f"corrupt header ({first_line(err)})"
    if not isinstance(header, dict):
        return "corrupt header (not a JSON object)"
    ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    expected = 8 + header_len + max(ends, default=0)
    if len(data) != expected:
        return f"{len(data)} bytes where its header promises {expected} (truncated or padded)"
    return None


def check_safetensors(path: str | os.PathLike, advice: str = WEIGHTS_ADVICE) -> bytes:
    """The bytes of a safetensors file after `safetensors_problem` found nothing; BadFileError otherwise."""
    data = Path(path).read_bytes()
    problem = safetensors_problem(data)
    if problem is not None:
        raise BadFileError(path, problem, advice)
    return data


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, metadata) of a file written by `save_weights`; BadFileError if it is unreadable."""
    data = check_safetensors(path)
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    try:
        metadata = json.loads(header.get("__metadata__", {}).get("paperlib", "{}"))
        return st_load(data), metadata
    except Exception as err:  # safetensors raises its own SafetensorError (not importable portably)
        raise BadFileError(path, f"unreadable weights ({first_line(err)})", WEIGHTS_ADVICE) from None


__all__ = ["atomic_write_bytes", "atomic_write_json", "read_json", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "scheduler_state", "load_scheduler_state", "save_weights", "load_weights",
           "safetensors_problem", "check_safetensors", "BadFileError"]
