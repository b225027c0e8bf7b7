"""Classify images with a base network and any number of adapter files, switched at run time.

    paperlib predict --base BASE --adapter A.safetensors [--adapter B.safetensors ...]
                     [--fuse] [--topk K] IMAGE...

One line per image and adapter: path, domain, then K pairs of class name and probability.
Adapters of one kind and placement share one network; all their (image, domain) pairs run as
one mixed-domain batch (`ResNet26.forward_mixed`). With `--fuse` each parallel adapter is folded
into the 3x3 kernels, g = f + diag_L(alpha) (sec. 3.1.2), and the plain network of that domain
runs: no extra cost at test time. Each adapter's images are prepared as at its training
(header: image size, centre crop, mean and std).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from paperlib.data import DomainSpec, augment_batch
from paperlib.data.images import try_decode
from paperlib.model.adapter_files import AdapterFileError, file_header
from paperlib.model.adapters import fuse_adapters
from paperlib.model.resnet import ResNet26
from paperlib.portable.base import cli_errors, load_base


@dataclass(frozen=True)
class Prediction:
    path: str
    domain: str
    classes: tuple[str, ...]  # top k, most probable first
    probabilities: tuple[float, ...]

    def line(self) -> str:
        pairs = " ".join(f"{c} {p:.4f}" for c, p in zip(self.classes, self.probabilities))
        return f"{self.path}\t{self.domain}\t{pairs}"


def same_predictions(a: Sequence[Prediction], b: Sequence[Prediction], *, tolerance: float = 1e-3) -> bool:
    """Whether two runs over the same images predict alike: the same image and domain, and every
    class in both top-k lists with probabilities within `tolerance`, each list's most probable class
    among the other's. The order is not compared: two classes within float rounding of each other
    may swap from one processor to another (so compare top-k lists of two or more)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x.path, x.domain) != (y.path, y.domain) or abs(x.probabilities[0] - y.probabilities[0]) > tolerance:
            return False
        theirs = dict(zip(y.classes, y.probabilities))
        if x.classes[0] not in theirs or y.classes[0] not in x.classes:
            return False
        if any(abs(p - theirs[c]) > tolerance for c, p in zip(x.classes, x.probabilities) if c in theirs):
            return False
    return True


def missing_files(base: str | os.PathLike, adapters: Sequence[str | os.PathLike]) -> list[str]:
    """One phrase per file of a prediction that does not exist: the base and every adapter."""
    return ([f"no base file {base}"] if not Path(base).is_file() else []) + [
        f"no adapter file {a}" for a in adapters if not Path(a).is_file()]


def load_networks(base: str | os.PathLike,
                  adapters: Sequence[str | os.PathLike]) -> dict[tuple, tuple[ResNet26, list[tuple[str, str]]]]:
    """{(kind, placement): (network, [(adapter file, domain)])}: one network per kind of adapter,
    holding every adapter file of that kind."""
    networks: dict[tuple, tuple[ResNet26, list[tuple[str, str]]]] = {}
    for path in adapters:
        header = file_header(path)
        key = (header.get("adapter"), header.get("placement", "all"))
        if key not in networks:
            networks[key] = (load_base(base, adapter=key[0], placement=key[1])[0], [])
        network, loaded = networks[key]
        loaded.append((str(path), network.load_adapter(path)))
    return networks


def prepare_images(paths: Sequence[str], info: dict, domain: str) -> tuple[torch.Tensor, list[str], list[tuple[str, str]]]:
    """(normalised batch, the paths it holds, skipped (path, reason)) as the adapter's header says."""
    spec = DomainSpec(name=domain, index=0, mean=tuple(info["mean"]), std=tuple(info["std"]), center_crop_only=False)
    arrays, kept, skipped = [], [], []
    for path in paths:
        array, reason = try_decode(path, int(info["image_size"]))
        if array is None:
            skipped.append((path, reason))
        else:
            arrays.append(torch.from_numpy(array))
            kept.append(path)
    if not arrays:
        return torch.zeros(0, 3, 1, 1), kept, skipped
    return augment_batch(torch.stack(arrays), spec, train=False, crop=int(info["crop"])), kept, skipped


@torch.no_grad()
def predict(base: str | os.PathLike, adapters: Sequence[str | os.PathLike], images: Sequence[str], *,
            fuse: bool = False, topk: int = 1) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """(predictions for every image and adapter, unreadable images skipped). A missing base or
    adapter file is refused before anything is loaded, naming every one."""
    if missing := missing_files(base, adapters):
        raise AdapterFileError("; ".join(missing))
    predictions: list[Prediction] = []
    skipped: dict[str, str] = {}
    for key, (network, mine) in load_networks(base, adapters).items():
        if fuse and key[0] != "parallel":
            raise AdapterFileError(f"{mine[0][0]}: --fuse needs parallel adapters (sec. 3.1.2); this one has {key[0]}")
        batches, names, order = [], [], []
        for path, d in mine:
            x, kept, bad = prepare_images(images, network.adapter_info[d], d)
            skipped.update(bad)
            batches.append(x)
            names += [d] * len(kept)
            order += [(p, d) for p in kept]
        if not order:
            continue
        x = torch.cat(batches)  # every (image, domain) pair of this network, B x 3 x c x c
        if fuse:  # one fused copy per domain: plain 3x3 convolutions, no adapter branch
            logits = torch.full((len(names), max(network.domains.values())), float("-inf"))
            for d in dict.fromkeys(names):
                rows = torch.tensor([i for i, n in enumerate(names) if n == d])
                logits[rows, :network.domains[d]] = fuse_adapters(network, d)(x[rows], d)
        else:
            logits = network(x, domain=names)  # mixed batch, padded with -inf past each head
        probs = logits.float().softmax(1)
        for (path, d), row in zip(order, probs):
            classes = network.adapter_info[d]["class_names"]
            p, idx = row[:len(classes)].topk(min(topk, len(classes)))
            predictions.append(Prediction(path, d, tuple(classes[i] for i in idx.tolist()), tuple(p.tolist())))
    return predictions, sorted(skipped.items())


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib predict`, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib predict", description=main.__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="base network file (paperlib export-base)")
    # not required=True here: a missing --adapter is reported with every missing file (main)
    p.add_argument("--adapter", action="append", default=None,
                   help="adapter file, repeatable; at least one (default: none)")
    p.add_argument("--fuse", action="store_true", help="run the fused network (parallel adapters only)")
    p.add_argument("--topk", type=int, default=1, help="classes per line (default: %(default)s)")
    p.add_argument("images", nargs="+", help="image files")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`paperlib predict`: class and probability per image and adapter file."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.topk < 1:
        cli.error("--topk must be >= 1")
    problems = missing_files(args.base, args.adapter or [])
    if not args.adapter:
        problems.append("no --adapter given (at least one adapter file)")
    if problems:  # every missing file in one line, before anything is loaded
        print(f"paperlib predict: {'; '.join(problems)}", file=sys.stderr)
        return 2

    def run() -> int:
        predictions, skipped = predict(args.base, args.adapter, args.images, fuse=args.fuse, topk=args.topk)
        for p in predictions:
            print(p.line())
        for path, reason in skipped:
            print(f"paperlib predict: skipped unreadable image {path} ({reason})", file=sys.stderr)
        return 1 if skipped else 0

    return cli_errors("paperlib predict", run)


__all__ = ["Prediction", "predict", "same_predictions", "missing_files", "load_networks", "prepare_images", "parser",
           "main"]
