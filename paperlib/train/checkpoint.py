"""Training checkpoints: everything the next epoch depends on, written atomically at the end of
every epoch (core.files) and read with `torch.load(weights_only=True)` (tensors, numbers,
strings, lists, dicts: nothing is unpickled).

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

from paperlib.core.errors import BadFileError, first_line
from paperlib.core.files import write_bytes

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write a checkpoint: tensors, numbers, strings and containers of them (torch.save format)."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
    write_bytes(path, buffer.getvalue())


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
