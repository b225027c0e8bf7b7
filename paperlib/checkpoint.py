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
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .data import atomic

CHECKPOINT_FORMAT = 1


# one implementation of atomic writes for the whole library (temp file, fsync, os.replace)
atomic_write_bytes = atomic.write_bytes


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Stable, human-readable JSON (sorted keys), written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------- training checkpoints


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write a checkpoint: tensors, numbers, strings and containers of them (torch.save format)."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint at `path` (on the CPU), or None when there is none. Never unpickles code."""
    path = Path(path)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    return state


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


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, metadata) of a file written by `save_weights`."""
    data = Path(path).read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_len])
    metadata = json.loads(header.get("__metadata__", {}).get("paperlib", "{}"))
    return st_load(data), metadata


__all__ = ["atomic_write_bytes", "atomic_write_json", "read_json", "save_checkpoint", "load_checkpoint",
           "scheduler_state", "load_scheduler_state", "save_weights", "load_weights"]
