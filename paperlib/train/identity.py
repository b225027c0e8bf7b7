"""Content identities: what the data and an upstream weight file are, independent of where they are.

A run's spec names its data by `data_identity` (a digest of the prepared cache's manifests of
the domains and splits it reads) and a hand-given weight file by `file_identity` (the SHA-256 of
its bytes). Moving the data root or the results folder changes neither, so the store finds the
same runs; re-preparing the data with other contents (another size, other annotations, new
images) changes the identity, so the store does not. The manifests are read whole: fields the
data pipeline adds to them later (per-array hashes, generator settings) take part automatically.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from paperlib.core.errors import DataError
from paperlib.core.files import read_json
from paperlib.data.cache import entry_dir


def manifest_path(cache_dir: str | os.PathLike, domain: str, split: str) -> Path:
    return entry_dir(cache_dir, domain, split) / "manifest.json"


def is_prepared(cache_dir: str | os.PathLike, domains: Sequence[str], splits: Sequence[str]) -> bool:
    """Whether every (domain, split) entry has its manifest (written last: the entry is complete)."""
    return all(manifest_path(cache_dir, d, s).is_file() for d in domains for s in splits)


def data_identity(cache_dir: str | os.PathLike, domains: Sequence[str], splits: Sequence[str]) -> str:
    """16 hex digits of the SHA-256 of the manifests of the (domain, split) entries, keyed by
    "domain/split" (so the cache's location does not enter). A missing entry is a DataError
    naming its manifest."""
    manifests = {}
    for d in domains:
        for s in splits:
            path = manifest_path(cache_dir, d, s)
            if not path.is_file():
                raise DataError(f"no prepared cache entry {path}: prepare the data first "
                                f"(`paperlib data prepare`, or run notebook 00_data)")
            manifests[f"{d}/{s}"] = read_json(path)
    text = json.dumps(manifests, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_identity(path: str | os.PathLike) -> str:
    """"sha256:" and the file's digest; a missing file is named by the path it was given as."""
    path = Path(path)
    if not path.is_file():
        return f"missing:{path.name}"
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, _mtime_ns: int, _size: int) -> str:  # keyed by mtime and size: a rewrite re-reads
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def bind_data(config, cache_dir: str | os.PathLike):
    """`config` (a TrainConfig) and every upstream spec in it with `data` set to the identity of
    the cache at `cache_dir`. Plans are built data-free; running or loading them binds them."""
    pretrained = tuple(bind_data(p, cache_dir) if not isinstance(p, str) else p for p in config.pretrained)
    return dataclasses.replace(config, data=data_identity(cache_dir, config.domains, config.data_splits),
                               pretrained=pretrained)


__all__ = ["data_identity", "file_identity", "bind_data", "is_prepared", "manifest_path"]
