"""Files that must survive a crash, written and read in one place: bytes, JSON, numpy arrays and
safetensors weights.

Every write goes to a temporary file in the target's folder, is flushed to disk, then renamed
over the target with `os.replace`: a reader (or a SIGKILL) sees the old file or the new one,
never half of one, and the rename never crosses devices. Every read checks what it reads: a
present file that is not what it should be raises `BadFileError`, one line that names the file,
the problem and what to do. Nothing here unpickles: weights are safetensors with a JSON header.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from paperlib.core.errors import BadFileError, first_line

WEIGHTS_ADVICE = "delete it and its record (.json) and rerun the notebook or run that wrote it"


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1, sort_keys: bool = False,
               allow_nan: bool = True) -> None:
    """JSON in a stable format (the same object always gives the same bytes): insertion order by
    default (the data cache's manifests, whose bytes are the data's identity), sorted keys for
    records and logs; `allow_nan=False` refuses NaN and inf (the bench's figures)."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan)
    write_bytes(path, (text + "\n").encode())


def read_json(path: str | os.PathLike, *, advice: str = "delete it and rerun what wrote it") -> Any:
    """The JSON in `path`; a present file that is not valid JSON raises BadFileError."""
    try:
        return json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise BadFileError(path, f"not valid JSON, truncated or corrupt ({first_line(err)})", advice) from None


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def save_weights(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> None:
    """A model's state dict as safetensors; `metadata` (JSON) goes in the header's "paperlib" key."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    write_bytes(path, st_save(tensors, metadata={"paperlib": json.dumps(dict(metadata), sort_keys=True)}))


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
