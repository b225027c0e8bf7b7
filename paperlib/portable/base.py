"""The shared network as one file, and networks built on it (paper sec. 3: w is universal).

    paperlib export-base --profile P [--results DIR] [--data-root DIR] [--seed N] --out FILE

writes the profile's pretrained source network (the plain ResNet-26 that Table 1's parallel
adapters and finetuning start from, notebook 01) from the results store as one safetensors file:
its tensors, and a header with the format version, the width, the image size and crop, the
normalisation of its inputs and the sha256 of its shared weights (`model.adapter_files.shared_sha256`).
The header also carries the model config that `model.weights.load_model` reads, so the engine can start
from the file as from any stored network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paperlib.core.errors import DataError
from paperlib.data.decathlon import TREE
from paperlib.model.adapter_files import BASE_FORMAT, AdapterFileError, read_file, shared_sha256, write_file
from paperlib.model.resnet import ModelConfig, ResNet26
from paperlib.model.weights import load_matching, load_model
from paperlib.series.plans import pretrain_config
from paperlib.series.study import Study
from paperlib.train.profiles import PROFILES
from paperlib.train.run_data import input_spec


def export_base(model: ResNet26, path: str | os.PathLike, *, image_size: int, crop: int, source_domain: str,
                profile: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Write `model` (a network pretrained on `source_domain`) as a base file; returns its header."""
    spec = input_spec(source_domain)
    header = {"width": model.config.width, "image_size": image_size, "crop": crop, "mean": list(spec.mean),
              "std": list(spec.std), "source_domain": source_domain, "base_sha256": shared_sha256(model),
              "model_config": dataclasses.asdict(model.config), "profile": profile, "run_id": run_id}
    # model.weights.load_model reads the "paperlib" key (the layout of core.files.save_weights)
    legacy = {"paperlib": json.dumps({"model_config": dataclasses.asdict(model.config), "svd": None}, sort_keys=True)}
    write_file(path, model.state_dict(), header, kind=BASE_FORMAT, extra=legacy)
    return header


def export_from_store(study, out: str | os.PathLike) -> dict[str, Any]:
    """The pretrained plain network of `study` (a `series.study.Study`: notebook 01's) from its
    results store, as a base file. Where it is not found, the refusal says whether the data is
    missing (the store keys runs by their data's identity, so another data root finds no run) or
    the network is."""
    config = pretrain_config(study)
    if study.prepared():  # the store keys runs by their data's identity (none before the data is prepared)
        config = study.bind(config)
    weights = study.store.weights_path(config)
    if not weights.is_file():
        raise AdapterFileError(_not_found(study, weights))
    return export_base(load_model(weights), out, image_size=study.settings.image_size, crop=study.settings.crop,
                       source_domain=config.domains[0], profile=study.profile, run_id=config.run_id)


def _not_found(study, weights: Path) -> str:
    """Why the pretrained network of `study` is not at `weights`: no data tree, data never
    prepared, or no such network in the store."""
    again = "pass --data-root as given to the series"
    if not (study.root / TREE).is_dir():
        return f"no data tree at {study.root}: {again}"
    if not study.prepared():
        return f"the data tree at {study.root} is not prepared (no complete cache at {study.cache_dir}): {again}"
    return (f"{weights}: no pretrained network of profile {study.profile!r} in {study.store.root}; train it "
            f"first: paperlib reproduce --profile {study.profile} --only 01_pretrain")


def load_base(path: str | os.PathLike, *, adapter: str | None = None, placement: str = "all") -> tuple[ResNet26, dict]:
    """(network, header): the base network of a base file, built with `adapter` slots at
    `placement` so that adapter files of that kind can be loaded into it. The adapters of its own
    source domain start at zero: that domain computes exactly what the base computed."""
    tensors, header = read_file(path, kind=BASE_FORMAT)
    try:
        config = ModelConfig(**{**header["model_config"], "adapter": adapter, "placement": placement,
                                "adapter_init": "zeros"})
        model = ResNet26(config)
        load_matching(model, tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise AdapterFileError(f"{path}: its tensors or header do not make a ResNet-26 ({err}); "
                               "export it again with paperlib export-base") from None
    if shared_sha256(model) != header.get("base_sha256"):
        raise AdapterFileError(f"{path}: its weights do not match the sha256 in its header; the file is corrupt: "
                               "export it again")
    return model.eval(), header


def cli_errors(prog: str, run: Callable[[], int]) -> int:
    """Run a command; a refusal (bad file, bad folder, bad value) is one line on stderr and exit 2."""
    try:
        return run()
    except (AdapterFileError, DataError, ValueError, OSError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"{prog}: {message}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib export-base`, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib export-base", description=main.__doc__.splitlines()[0])
    p.add_argument("--profile", required=True, choices=PROFILES, help="the series' profile")
    p.add_argument("--results", default=None,
                   help="the results store, as given to the series (default: results/ in the project)")
    p.add_argument("--data-root", default=None,
                   help="as given to the series: the store finds a run by its data (default: the profile's "
                        "data/<profile> folder in the project, for a MiniDecathlon the generation of --seed)")
    p.add_argument("--device", default="auto", help="as given to the series (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="as given to the series (default: %(default)s)")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`paperlib export-base`: the profile's pretrained source network as one safetensors file."""
    args = parser().parse_args(argv)

    def run() -> int:
        study = Study(profile=args.profile, data_root=args.data_root, results_dir=args.results, device=args.device,
                      seed=args.seed)
        header = export_from_store(study, args.out)
        size = Path(args.out).stat().st_size
        print(f"{args.out}: base network of profile {args.profile} (width {header['width']}, "
              f"{header['image_size']} px, crop {header['crop']}), {size / 1e6:.2f} MB, "
              f"sha256 {header['base_sha256'][:12]}")
        return 0

    return cli_errors("paperlib export-base", run)


__all__ = ["export_base", "export_from_store", "load_base", "cli_errors", "parser", "main"]
