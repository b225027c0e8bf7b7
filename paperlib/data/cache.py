"""Decode once: the prepared cache of one domain and split, and its loader.

Layout, per domain and split (trainval is not stored: it is train + val at load time):

    CACHE/<domain>/<split>/images.npy     uint8 (N, 3, S, S), read back memory-mapped
    CACHE/<domain>/<split>/labels.npy     int64 (N,), -1 where unlabelled (stripped test)
    CACHE/<domain>/<split>/image_ids.npy  int64 (N,), the Decathlon image ids (for submissions)
    CACHE/<domain>/<split>/manifest.json  counts, classes, size, sha256 of the annotation file,
                                          skipped (unreadable) files, and each array's size in
                                          bytes and cheap checksum; written last

Every file is written atomically and the manifest last, so a manifest means a complete entry.
An entry is rebuilt when its annotation file's sha256, the image size or the format changes, or
when an array no longer matches its size and checksum (a truncated or damaged file): `prepare`
says so and rebuilds it; the loader names it (BadFileError) instead of failing in a memory map.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap
from tqdm import tqdm

from paperlib.core.errors import BadFileError, DataError
from paperlib.core.files import atomic_path, read_json, save_npy, write_json
from paperlib.data.decathlon import (
    FILE_SPLITS,
    SPLITS,
    SplitIndex,
    available_domains,
    file_sha256,
    read_split,
    split_parts,
)
from paperlib.data.domains import check_domains
from paperlib.data.images import try_decode

FORMAT = 2  # bump when the layout or the decoding changes: old entries are then rebuilt
CHUNK = 256  # images decoded per batch of pool tasks (bounds memory; keeps the bar moving)
ARRAYS = ("images.npy", "labels.npy", "image_ids.npy")
SAMPLE = 1 << 20  # bytes hashed at each end of an array: cheap even for ImageNet's 19 GB


@dataclass
class DomainSplit:
    """One prepared domain and split, as tensors (images may be memory-mapped: read only)."""

    domain: str
    split: str
    images: torch.Tensor  # uint8 (N, 3, S, S)
    labels: torch.Tensor  # int64 (N,), -1 where unlabelled
    image_ids: torch.Tensor  # int64 (N,)
    num_classes: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def entry_dir(cache_dir: str | Path, domain: str, split: str) -> Path:
    return Path(cache_dir) / domain / split


def split_labelled(cache_dir: str | Path, domains, split: str = "test") -> bool:
    """Whether every domain's prepared `split` has a label for each image (its manifest says so:
    the Decathlon's test split only once its labels are placed, `labels.place_labels`). False
    where an entry is not prepared or its manifest is unreadable."""
    for domain in domains:
        try:
            if not read_json(entry_dir(cache_dir, domain, split) / "manifest.json").get("labelled"):
                return False
        except (OSError, DataError, AttributeError):
            return False
    return bool(domains)


def _manifest_for(index: SplitIndex, size: int) -> dict:
    """The part of the manifest that decides whether an entry is up to date."""
    return {
        "format": FORMAT,
        "domain": index.domain,
        "split": index.split,
        "size": size,
        "annotations": [{"file": p.name, "sha256": file_sha256(p)} for p in index.annotation_files],
    }


def array_stamp(path: Path) -> dict:
    """Size in bytes and a cheap checksum of a cache array: the sha256 of its first and last MiB
    with the size (catches truncation and damage at the ends; not a full hash, by design)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(SAMPLE))
        if size > SAMPLE:
            f.seek(max(SAMPLE, size - SAMPLE))
            digest.update(f.read())
    return {"bytes": size, "sampled_sha256": digest.hexdigest()}


def entry_problems(folder: Path, manifest: dict) -> list[str]:
    """What no longer matches the manifest in a cache entry: each array missing, resized or damaged."""
    problems = []
    for name, stamp in manifest.get("arrays", {}).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        found = array_stamp(path)
        if found["bytes"] != stamp["bytes"]:
            problems.append(f"{path}: {found['bytes']} bytes, the manifest says {stamp['bytes']} (truncated?)")
        elif found != stamp:
            problems.append(f"{path}: checksum differs from the manifest (damaged)")
    return problems


def _up_to_date(folder: Path, wanted: dict) -> bool:
    try:
        manifest = read_json(folder / "manifest.json")
    except (OSError, ValueError):
        return False
    if not all(manifest.get(k) == v for k, v in wanted.items()):
        return False
    problems = entry_problems(folder, manifest)
    if problems:
        warnings.warn(f"{'; '.join(problems)}: rebuilding {folder}", stacklevel=3)
    return not problems and all((folder / f).is_file() for f in ARRAYS)


def _decode_all(index: SplitIndex, size: int, out: np.ndarray, workers: int) -> tuple[list[int], list[dict]]:
    """Decode into ``out`` packed (skipped files leave no gap); returns (kept, skipped)."""
    kept: list[int] = []
    skipped: list[dict] = []
    paths = [index.path(i) for i in range(len(index))]
    bar = tqdm(total=len(paths), desc=f"{index.domain}/{index.split}", unit="img",
               disable=None, leave=False)  # disable=None: no bar when not a tty
    pool = ThreadPoolExecutor(workers) if workers > 1 else None  # PIL releases the GIL
    try:
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start:start + CHUNK]
            results = (pool.map(try_decode, chunk, [size] * len(chunk)) if pool
                       else (try_decode(p, size) for p in chunk))
            for i, (array, reason) in enumerate(results, start):
                if array is None:
                    skipped.append({"file_name": index.file_names[i],
                                    "image_id": int(index.image_ids[i]), "error": reason})
                else:
                    out[len(kept)] = array
                    kept.append(i)
            bar.update(len(chunk))
    finally:
        bar.close()
        if pool:
            pool.shutdown()
    return kept, skipped


def _write_images(folder: Path, index: SplitIndex, size: int, workers: int) -> tuple[list[int], list[dict]]:
    """images.npy, written through a memory map (ImageNet does not fit in RAM) then renamed."""
    final = folder / "images.npy"
    with atomic_path(final) as tmp:
        out = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(index), 3, size, size))
        kept, skipped = _decode_all(index, size, out, workers)
        if len(kept) < len(index):  # shrink: copy the packed rows into a file of the right shape
            with atomic_path(tmp) as tmp2:
                small = open_memmap(tmp2, mode="w+", dtype=np.uint8, shape=(len(kept), 3, size, size))
                for s in range(0, len(kept), 4096):
                    small[s:s + 4096] = out[s:min(s + 4096, len(kept))]
                small.flush()
                del small
        else:
            out.flush()
        del out
    return kept, skipped


def prepare_split(root: str | Path, cache_dir: str | Path, domain: str, split: str,
                  size: int = 72, *, workers: int | None = None, force: bool = False) -> dict:
    """Decode one domain and split (train, val or test) into the cache; returns its manifest.

    Skips the work when the entry is up to date (same annotation sha256, size and format).
    Unreadable images are skipped with one warning and listed in the manifest.
    """
    if split not in FILE_SPLITS:
        raise ValueError(f"prepare works on {FILE_SPLITS}; trainval is train + val at load time")
    index = read_split(root, domain, split)
    folder = entry_dir(cache_dir, domain, split)
    wanted = _manifest_for(index, size)
    if not force and _up_to_date(folder, wanted):
        return read_json(folder / "manifest.json")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)  # from now on the entry is incomplete
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    kept, skipped = _write_images(folder, index, size, workers)
    if skipped:
        listed = ", ".join(s["file_name"] for s in skipped[:5])
        warnings.warn(f"{domain}/{split}: skipped {len(skipped)} unreadable image(s) ({listed}"
                      f"{', ...' if len(skipped) > 5 else ''}); listed in {folder / 'manifest.json'}",
                      stacklevel=2)
    labels, ids = index.labels[kept], index.image_ids[kept]
    save_npy(folder / "labels.npy", labels)
    save_npy(folder / "image_ids.npy", ids)
    counts = np.bincount(labels[labels >= 0], minlength=index.num_classes)
    manifest = dict(wanted, count=len(kept), listed=len(index), num_classes=index.num_classes,
                    classes=list(index.class_names), class_counts=counts.tolist(),
                    labelled=bool(len(labels)) and bool((labels >= 0).all()), skipped=skipped,
                    arrays={name: array_stamp(folder / name) for name in ARRAYS})
    write_json(folder / "manifest.json", manifest)
    return manifest


def prepare(root: str | Path, cache_dir: str | Path, domains=None, splits=("train", "val", "test"),
            size: int = 72, *, workers: int | None = None, force: bool = False) -> list[dict]:
    """Decode every image of the given domains and splits once; returns their manifests.
    A split whose annotation file is missing or malformed does not stop the others: all are
    prepared that can be, then PrepareError lists every problem.

    ``domains=None`` takes every domain with a train annotation under ROOT; ``trainval`` in
    ``splits`` means train and val. ``size`` is the side of the stored square (72 for the paper,
    36 for the mini profile).
    """
    domains = available_domains(root) if domains is None else check_domains(domains)
    if not domains:
        raise DataError(f"no annotation files under {Path(root) / 'decathlon-1.0' / 'annotations'}")
    wanted = []
    for split in (splits,) if isinstance(splits, str) else splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
        wanted += split_parts(split)
    wanted = [s for s in FILE_SPLITS if s in wanted]  # dedupe, in a fixed order
    manifests, problems = [], []
    for d in domains:
        for s in wanted:
            try:
                manifests.append(prepare_split(root, cache_dir, d, s, size, workers=workers, force=force))
            except DataError as err:  # one bad annotation file must not leave the other domains unprepared
                problems.append(f"{d}/{s}: {err}")
    if problems:
        raise PrepareError(manifests, problems)
    return manifests


class PrepareError(DataError):
    """Some splits could not be prepared (each problem listed); every other one was. Holds the
    manifests of those prepared, so the caller can still show them."""

    def __init__(self, manifests: list[dict], problems: list[str]):
        self.manifests, self.problems = manifests, problems
        super().__init__(f"{len(problems)} split(s) not prepared (the {len(manifests)} others are): "
                         + " | ".join(problems))


def _load_entry(cache_dir: str | Path, domain: str, split: str) -> DomainSplit:
    folder = entry_dir(cache_dir, domain, split)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"no prepared cache at {manifest_path}: run `paperlib data prepare "
                        f"--root ROOT --cache {cache_dir} --domains {domain}`")
    advice = (f"run `paperlib data prepare --root ROOT --cache {cache_dir} --domains {domain}`, "
              f"which rebuilds the entry")
    try:
        manifest = read_json(manifest_path)
    except ValueError as err:
        raise BadFileError(manifest_path, f"unreadable manifest ({err})", advice) from None
    problems = entry_problems(folder, manifest)
    if problems:  # checked before the memory map, which would fail (or read garbage) later
        path, _, problem = problems[0].partition(": ")
        raise BadFileError(path, f"{problem} (cache entry {domain}/{split})", advice)
    try:
        with warnings.catch_warnings():
            # the memory map is read only; torch warns that writing to it is undefined (we never do)
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            images = torch.from_numpy(np.load(folder / "images.npy", mmap_mode="r"))
        labels = torch.from_numpy(np.load(folder / "labels.npy"))
        ids = torch.from_numpy(np.load(folder / "image_ids.npy"))
    except (OSError, ValueError, EOFError) as err:  # an entry of an older format has no stamps
        raise BadFileError(folder, f"unreadable cache array ({err})", advice) from None
    if not (images.shape[0] == labels.shape[0] == ids.shape[0] == manifest["count"]):
        raise BadFileError(folder, "inconsistent cache entry (counts differ)", advice)
    return DomainSplit(domain, split, images, labels, ids, int(manifest["num_classes"]))


def load_split(cache_dir: str | Path, domain: str, split: str) -> DomainSplit:
    """The prepared images of a domain and split; ``trainval`` concatenates train and val
    (in memory: fine for the nine target domains, ~19 GB for full ImageNet)."""
    check_domains([domain])
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if split != "trainval":
        return _load_entry(cache_dir, domain, split)
    train, val = _load_entry(cache_dir, domain, "train"), _load_entry(cache_dir, domain, "val")
    return DomainSplit(domain, split, torch.cat([train.images, val.images]),
                       torch.cat([train.labels, val.labels]),
                       torch.cat([train.image_ids, val.image_ids]), train.num_classes)

