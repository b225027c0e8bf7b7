"""Fetch the Visual Decathlon from its official addresses, or say how to get it by hand.

The devkit archive unpacks to ``decathlon-1.0/`` (annotations included); the data archive is
unpacked in ``decathlon-1.0/data`` and holds one ``<domain>.tar`` per domain, each unpacked in
place (as the authors' download_data.sh does). ImageNet (imagenet12) needs a login at
image-net.org, so only manual steps are printed for it. Everything is unpacked in a temporary
sibling folder and renamed to ``ROOT/decathlon-1.0`` only when complete: an interrupted download
never leaves a tree that looks complete. The test labels come last, from the authors' repository
(`labels.LABELS_URL`), each file placed once checked (`labels.place_labels`).
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from paperlib.data.decathlon import TREE, tree_dir
from paperlib.data.labels import LABELS_URL, labels_step, place_labels

SITE = "http://www.robots.ox.ac.uk/~vgg/decathlon/"
DEVKIT_URL = "http://www.robots.ox.ac.uk/~vgg/share/decathlon-1.0-devkit.tar.gz"
DATA_URL = "http://www.robots.ox.ac.uk/~vgg/share/decathlon-1.0-data.tar.gz"
IMAGENET_URL = "https://image-net.org"


def manual_steps(root: Path) -> str:
    tree = root / TREE
    return "\n".join([
        "To get the Visual Decathlon by hand:",
        f"  1. download {DEVKIT_URL}",
        f"     and unpack it in {root} (it gives {tree}/annotations)",
        f"  2. download {DATA_URL}",
        f"     unpack it in {tree}/data, then unpack each <domain>.tar it holds in that folder",
        f"  3. imagenet12 is a separate archive: log in at {IMAGENET_URL}, download the",
        f"     Decathlon's downsized ImageNet (linked from {SITE}) and unpack it in {tree}/data",
        f"  4. the test labels: {labels_step(root)}",
        f"  5. paperlib data check --root {root}",
        f"Without the data: `paperlib data mini --out {root}` writes the MiniDecathlon in this layout.",
    ])


def _fetch(url: str, dest: Path, opener, timeout: float) -> Path:
    """Stream ``url`` to ``dest`` (the caller's staging folder, so a partial file is discarded)."""
    with opener(url, timeout=timeout) as response, open(dest, "wb") as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
                bar.update(len(block))
    return dest


def _unpack(archive: Path, into: Path) -> None:
    """Extract refusing absolute paths and ``..`` (tarfile's "data" filter), then delete it."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    archive.unlink()


def download(root: str | Path, *, opener=None, timeout: float = 30.0) -> int:
    """Download and unpack the Decathlon (all but ImageNet) into ROOT/decathlon-1.0.

    Returns 0 on success; on any failure (no network here) prints the addresses and the manual
    steps to stderr and returns 1, leaving no ``decathlon-1.0`` folder behind.
    """
    root = Path(root)
    opener = opener or urllib.request.urlopen
    final = root / TREE
    if final.exists():
        print(f"{final} already exists: remove it to download again, or run "
              f"`paperlib data check --root {root}` (`paperlib data labels --root {root}` fetches "
              f"only the test labels)", file=sys.stderr)
        return 1
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{TREE}.download-"))
    try:
        _unpack(_fetch(DEVKIT_URL, staging / Path(DEVKIT_URL).name, opener, timeout), staging)
        data = staging / TREE / "data"
        data.mkdir(parents=True, exist_ok=True)
        _unpack(_fetch(DATA_URL, data / Path(DATA_URL).name, opener, timeout), data)
        for inner in sorted(data.glob("*.tar")):
            _unpack(inner, data)
        if not (staging / TREE / "annotations").is_dir():
            raise OSError(f"the devkit has no {TREE}/annotations folder")
        staging.joinpath(TREE).rename(final)
    except Exception as err:  # network, HTTP, disk, tar: all end in the manual steps
        print(f"download failed: {type(err).__name__}: {err}", file=sys.stderr)
        print(manual_steps(root), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"downloaded the Decathlon (without imagenet12) to {final}\n" + manual_steps(root))
    return download_labels(root, opener=opener, timeout=timeout)


def download_labels(root: str | Path, *, opener=None, timeout: float = 30.0) -> int:
    """Fetch the authors' labels_test.zip and place its files in ROOT/decathlon-1.0/annotations
    (`labels.place_labels`). Returns 0 when every file was placed; else prints why and the manual
    step to stderr and returns 1 (the tree keeps what it had)."""
    root = Path(root)
    opener = opener or urllib.request.urlopen
    tree_dir(root)  # no tree: a DataError naming it, before anything is fetched
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".labels.download-"))
    try:
        report = place_labels(_fetch(LABELS_URL, staging / Path(LABELS_URL).name, opener, timeout), root)
    except Exception as err:  # network, HTTP, disk, a bad archive: all end in the manual step
        print(f"test labels not downloaded: {type(err).__name__}: {err}\n"
              f"To place them by hand: {labels_step(root)}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(report.format(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
