"""A new domain from your own images: train its adapters on the frozen base, write one file.

    paperlib adapt --base BASE.safetensors --images DIR --domain NAME --out FILE
                   [--adapter parallel|series] [--epochs N] [--placement all|early|mid|late|half]

DIR is an ImageFolder (imagefolder.py). The engine (`engine.train`) trains the domain's
adapters, BNs and classifier with the 3x3 convolutions of the base frozen (paper sec. 4.1,
methods "parallel" / "series"), with its resumable checkpoint next to FILE (FILE.ckpt: a killed
run given the same command resumes after its last epoch; deleted once FILE is written). FILE
holds that domain's tensors only (adapter_files.py), and the command prints its size beside the base's.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperlib.model.adapter_files import BASE_FORMAT, file_header, read_file, shared_sha256
from paperlib.model.resnet import PLACEMENTS
from paperlib.portable.base import cli_errors
from paperlib.portable.imagefolder import read_image_folder
from paperlib.train.engine import train
from paperlib.train.run_data import input_spec
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig

# the paper's middle adapter decay (sec. 4.1: 0.0005 for omniglot, daimlerpedcls, ucf101), the
# one this reproduction's regularization ablation uses for every domain
DEFAULT_ADAPTER_DECAY = 0.0005
DOMAIN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class AdaptSettings:
    """What `adapt` trains with, besides the base and the images (stored in the file's header)."""

    adapter: str = "parallel"  # parallel | series (sec. 3.1)
    placement: str = "all"  # all | early | mid | late | half (Table 1)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    adapter_decay: float = DEFAULT_ADAPTER_DECAY
    val_fraction: float = 0.2  # held out per class when DIR has no val/ folder
    seed: int = 0
    device: str = "auto"
    train_limit_batches: int | None = None  # dry runs: steps per epoch


def adapt(base: str | os.PathLike, images: str | os.PathLike, domain: str, out: str | os.PathLike,
          settings: AdaptSettings = AdaptSettings(), *, progress: bool | None = None) -> dict[str, Any]:
    """Train `domain` on the images of `images` from the base file `base`; write the adapter file
    `out`. Returns a summary: header, sizes, skipped files, history."""
    if not DOMAIN_NAME.match(domain):
        raise ValueError(f"domain name {domain!r}: use letters, digits, '-' and '_' only")
    _, base_header = read_file(base, kind=BASE_FORMAT)  # refuses a bad base before any decoding
    if domain in dict(base_header["model_config"]["domains"]):
        raise ValueError(f"domain {domain!r} is the base network's own; choose another name")
    if settings.placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {settings.placement!r}; valid placements: {', '.join(PLACEMENTS)}")
    data = read_image_folder(images, domain, size=base_header["image_size"], val_fraction=settings.val_fraction,
                             seed=settings.seed)
    config = TrainConfig(
        method=settings.adapter, domains=(domain,), profile=base_header.get("profile") or "full",
        width=float(base_header["width"]), adapter=settings.adapter,
        placement=settings.placement, epochs=settings.epochs, lr=settings.lr,
        batch_size=max(1, min(settings.batch_size, len(data.train))),
        adapter_weight_decay=((domain, settings.adapter_decay),), crop=int(base_header["crop"]),
        pretrained=(str(base),), source_domain=base_header["source_domain"], seed=settings.seed,
        train_limit_batches=settings.train_limit_batches, eval_splits=("val",))
    checkpoint = Path(f"{out}.ckpt")
    runtime = Runtime(data_dir=str(images), device=settings.device, progress=progress)
    result = train(config, runtime, loader=data.loader, checkpoint=checkpoint)
    if shared_sha256(result.model) != base_header["base_sha256"]:  # resumed from another base's run
        raise ValueError(f"{checkpoint}: a checkpoint of a run on another base file; delete it and run again")
    spec = input_spec(domain, config.source_domain)
    info = {"class_names": data.class_names, "image_size": base_header["image_size"], "crop": config.crop,
            "mean": list(spec.mean), "std": list(spec.std), "val_accuracy": result.metrics[domain]["val"],
            "training": {"method": config.method, "epochs": config.epochs, "batch_size": config.batch_size,
                         "lr": config.lr, "adapter_decay": settings.adapter_decay, "weight_decay": config.weight_decay,
                         "seed": config.seed, "train_images": len(data.train), "val_images": len(data.val),
                         "base_run_id": base_header.get("run_id")}}
    result.model.save_adapter(domain, out, info=info)
    checkpoint.unlink(missing_ok=True)
    return {"header": file_header(out), "adapter_bytes": Path(out).stat().st_size,
            "base_bytes": Path(base).stat().st_size, "skipped": data.skipped, "history": result.history,
            "resumed_from_epoch": result.resumed_from_epoch}


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib adapt`, each with its default (AdaptSettings')."""
    d = AdaptSettings()
    p = argparse.ArgumentParser(prog="paperlib adapt", description=main.__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="base network file (paperlib export-base)")
    p.add_argument("--images", required=True, help="ImageFolder: DIR/<class>/... or DIR/train|val/<class>/...")
    p.add_argument("--domain", required=True, help="the new domain's name (letters, digits, '-' and '_')")
    p.add_argument("--out", required=True, help="the adapter file to write (.safetensors)")
    p.add_argument("--adapter", choices=("parallel", "series"), default=d.adapter,
                   help="residual adapters in parallel with or in series after each 3x3 convolution "
                        "(sec. 3.1; default: %(default)s)")
    p.add_argument("--placement", choices=PLACEMENTS, default=d.placement,
                   help="which residual blocks get adapters (Table 1's placements; default: %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="images per step, at most the training images (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--adapter-decay", type=float, default=d.adapter_decay,
                   help="weight decay of the adapters (sec. 4.1's middle value; default: %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="fraction of each class held out for validation when DIR has no val/ folder "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="the adapters' initialisation, shuffling, augmentation and holdout (default: %(default)s)")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--limit-batches", type=int, default=None,
                   help="dry runs: at most this many steps per epoch (default: every batch)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`paperlib adapt`: a new domain's adapters from a folder of your own images, as one file."""
    args = parser().parse_args(argv)
    settings = AdaptSettings(adapter=args.adapter, placement=args.placement, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, adapter_decay=args.adapter_decay,
                             val_fraction=args.val_fraction, seed=args.seed, device=args.device,
                             train_limit_batches=args.limit_batches)

    def run() -> int:
        summary = adapt(args.base, args.images, args.domain, args.out, settings)
        for path, reason in summary["skipped"]:
            print(f"skipped unreadable image {path} ({reason})")
        h = summary["header"]
        print(f"{args.out}: domain {h['domain']!r}, {len(h['class_names'])} classes, {h['adapter']} adapters "
              f"({h['placement']}), val accuracy {h['val_accuracy']:.1f}%")
        print(f"size: adapter {summary['adapter_bytes'] / 1e6:.3f} MB vs base {summary['base_bytes'] / 1e6:.3f} MB "
              f"({100 * summary['adapter_bytes'] / summary['base_bytes']:.1f}%)")
        return 0

    return cli_errors("paperlib adapt", run)


__all__ = ["AdaptSettings", "adapt", "parser", "main", "DEFAULT_ADAPTER_DECAY"]
