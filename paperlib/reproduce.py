"""`paperlib reproduce`: execute the notebook series in order with papermill.

    paperlib reproduce --profile mini                       # the main job (make reproduce)
    paperlib reproduce --profile full --data-root DIR       # the paper's setting, on a GPU
    paperlib reproduce --profile full --data-root DIR --dry-run   # that code path, a few steps each
    paperlib reproduce --profile full --plan                # every training and its estimated cost

Executed notebooks are kept under runs/<profile>/; an interrupted series started again skips
every training already in the results store. The last notebook writes figures/table1_<profile>.*
and figures/fig4_<profile>.*; the mini profile also refreshes the README's results section.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from . import series_log
from .series import NOTEBOOKS

REPO = Path(__file__).resolve().parents[1]
CHECKED = "# NBVAL_CHECK_OUTPUT"
SERIES_TIMES_MARKER = "<!-- begin:series-times -->"


def notebook_dir() -> Path:
    return REPO / "notebooks"


def run_series(profile: str, *, data_root: str | None = None, results_dir: str | None = None,
               runs_dir: str = "runs", device: str = "auto", dry_run: bool = False,
               only: list[str] | None = None, kernel: str = "python3", progress: bool = True,
               workers: int | None = None) -> list[Path]:
    """Execute the notebooks (all, or `only`) with papermill; returns the executed copies."""
    import papermill

    unknown = sorted(set(only or ()) - set(NOTEBOOKS))
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; valid: {', '.join(NOTEBOOKS)}")
    tag = f"{profile}-dry-run" if dry_run else profile
    results_dir = results_dir or (f"{runs_dir}/{tag}/results" if dry_run else None)  # None: the project's results/
    out_dir = Path(runs_dir) / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "data_root": data_root, "results_dir": results_dir, "device": device,
              "dry_run": dry_run, "workers": workers}
    done = []
    for name in NOTEBOOKS:
        if only and name not in only:
            continue
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        records_before = series_log.count_records(results_dir, profile)
        print(f"== {name} ({tag})", flush=True)
        out = out_dir / f"{name}.ipynb"
        with series_log.TreeMemory() as memory:
            papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(out), parameters=params,
                                       kernel_name=kernel, cwd=str(Path.cwd()), progress_bar=progress)
        seconds = time.perf_counter() - started
        trained = series_log.count_records(results_dir, profile) - records_before
        series_log.append_entry(out_dir, series_log.make_entry(
            name, seconds=seconds, trainings=trained, peak_bytes=memory.peak, load_before=load_before))
        print(f"   {name}: {seconds:.0f} s, {trained} trainings, peak {memory.peak / 2**30:.2f} GiB -> {out}",
              flush=True)
        done.append(out)
    readme = REPO / "README.md"
    if profile == "mini" and not dry_run and readme.is_file() and SERIES_TIMES_MARKER in readme.read_text():
        from .readme_blocks import update_readme

        update_readme(readme, "series-times", series_log.series_table(out_dir / series_log.LOG_NAME, list(NOTEBOOKS)))
    return done


def store_checked_outputs(executed_dir: str | Path, *, source_dir: Path | None = None) -> list[Path]:
    """Commit-ready notebooks: strip every output but those of the `# NBVAL_CHECK_OUTPUT` cells,
    which take the outputs of the executed copies in `executed_dir` (what nbval compares)."""
    import nbformat

    source_dir = source_dir or notebook_dir()
    written = []
    for name in NOTEBOOKS:
        path, executed = source_dir / f"{name}.ipynb", Path(executed_dir) / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        ran = {c.source: c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            checked = cell.source.startswith(CHECKED)
            # nbval skips a checked cell that has outputs but no execution count ("unrun")
            cell.execution_count = ran[cell.source].execution_count if checked else None
            cell.outputs = ran[cell.source].outputs if checked else []
        nbformat.write(nb, path)
        written.append(path)
    return written


def write_parameter_cells(source_dir: Path | None = None) -> list[Path]:
    """Regenerate every notebook's `parameters` cell from its Params dataclass (series.SERIES),
    the single source of the notebooks' parameters; returns the notebooks that changed."""
    import nbformat

    from .params import parameters_cell
    from .series import SERIES

    changed = []
    for name, (params_type, _) in SERIES.items():
        path = (source_dir or notebook_dir()) / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        if cell.source != parameters_cell(params_type):
            cell.source = parameters_cell(params_type)
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def print_plan(profile: str, *, data_root: str | None = None, dry_run: bool = False,
               export: str | None = None) -> int:
    """Every training of the series with its cost estimate (images seen and FLOPs); with
    `export`, each training's config as JSON for `[torchrun ...] paperlib train --config FILE`."""
    from . import experiments as ex
    from .checkpoint import atomic_write_json
    from .series import series_plan
    study = ex.Study(profile=profile, data_root=data_root, dry_run=dry_run)
    plan = series_plan(study)
    if study.prepared():  # the ids the store will use; unprepared data: the data-free plan's
        plan = [(notebook, labels, study.bind(config)) for notebook, labels, config in plan]
    # a profile without test labels trains on train (validation phase) and on train+val (test phase)
    sizes = {"train": train_set_sizes(study.in_phase("validation")), "trainval": train_set_sizes(study.in_phase("test"))}
    total_flops = 0.0
    print(f"{'notebook':<24} {'method':<9} {'domains':<14} {'width':>5} {'epochs':>6} {'images':>12} {'PFLOP':>8}")
    for notebook, labels, config in plan:
        split_sizes = sizes.get(config.train_split, sizes["train"])
        images = training_images(config, lambda d: split_sizes.get(d, 0))
        flops = images * training_flops_per_image(config.width, config.crop or study.settings.crop,
                                                   adapter=config.adapter, placement=config.placement,
                                                   method=config.method)
        total_flops += flops
        if export:
            atomic_write_json(Path(export) / f"{notebook}-{config.method}-{config.run_id}.json", config.to_dict())
        print(f"{notebook:<24} {config.method:<9} {'+'.join(config.domains)[:14]:<14} {config.width:>5g} "
              f"{config.epochs:>6} {images:>12,.0f} {flops / 1e15:>8.2f}")
    print(f"{len(plan)} trainings, {total_flops / 1e15:.1f} PFLOP in all; at 40% of an H100's ~400 TFLOP/s "
          f"(bf16, dense) that is about {total_flops / (0.4 * 400e12) / 3600:.1f} GPU-hours")
    return 0


def training_images(config, train_size: Callable[[str], int]) -> float:
    """Images a run trains on, all epochs: its domains' training images (`train_size(domain)`, of
    its train split) x the fractions it keeps x epochs, or batches x batch size where the steps
    per epoch are limited (smoke, dry runs)."""
    per_epoch = sum(train_size(d) for d in config.domains) * config.train_fraction * config.class_fraction
    if config.train_limit_batches is not None:
        per_epoch = min(per_epoch, config.train_limit_batches * config.batch_size)
    return per_epoch * config.epochs


@functools.lru_cache(maxsize=None)
def training_flops_per_image(width: float, crop: int, *, adapter: str | None, placement: str, method: str) -> float:
    """FLOPs of one training image: 3 x the forward pass (models.count_macs, 2 FLOPs a MAC)."""
    from .models import ResNet26, count_macs

    model = ResNet26.build([("imagenet12", 1000)], width=width, adapter=adapter, placement=placement)
    return 3 * 2 * count_macs(model, torch.zeros(1, 3, crop, crop), domain="imagenet12")["total"]


def prepared_count(cache_dir: str | os.PathLike, domain: str, split: str) -> int | None:
    """Images of one split in the prepared cache (its manifest), None where it is not prepared."""
    from .checkpoint import read_json
    from .data.cache import entry_dir

    manifest = entry_dir(cache_dir, domain, split) / "manifest.json"
    return read_json(manifest)["count"] if manifest.is_file() else None


def train_set_sizes(study) -> dict[str, int]:
    """Training images per domain: from the prepared cache when there is one, else the real
    Decathlon's (data.facts)."""
    from .data.facts import decathlon_counts

    real = decathlon_counts()
    sizes = {}
    for d in real:
        counts = [prepared_count(study.cache_dir, d, split) for split in ("train", "val")]
        if None in counts:
            counts = [real[d]["train"], real[d]["val"]]
        trainval = study.settings.train_split == "trainval" and d != "imagenet12"
        sizes[d] = counts[0] + (counts[1] if trainval else 0)
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paperlib reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="mini", choices=("smoke", "mini", "full"))
    parser.add_argument("--data-root", default=None, help="folder holding decathlon-1.0/ (default data/<profile>)")
    parser.add_argument("--results", default=None, help="results store (default results/, runs/<tag>/results for dry runs)")
    parser.add_argument("--runs", default="runs", help="where executed notebooks go (default runs/)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dry-run", action="store_true", help="the profile's settings, a few steps per training")
    parser.add_argument("--plan", action="store_true", help="list every training and its cost, run nothing")
    parser.add_argument("--export-configs", metavar="DIR", help="with --plan: write each training's config JSON")
    parser.add_argument("--store-checked", metavar="EXECUTED_DIR",
                        help="maintainers: strip notebooks/, keeping the checked cells' outputs from EXECUTED_DIR")
    parser.add_argument("--write-parameter-cells", action="store_true",
                        help="maintainers: regenerate the notebooks' parameters cells from paperlib/params.py")
    parser.add_argument("--workers", type=int, default=None,
                        help="trainings of a notebook side by side, one thread each (default: 2 for mini on a CPU, "
                             "else 1); never changes which runs are trained")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=f"a subset of: {', '.join(NOTEBOOKS)}")
    args = parser.parse_args(argv)
    if args.write_parameter_cells:
        for path in write_parameter_cells():
            print(path)
        return 0
    if args.store_checked:
        for path in store_checked_outputs(args.store_checked):
            print(path)
        return 0
    if args.plan:
        return print_plan(args.profile, data_root=args.data_root, dry_run=args.dry_run, export=args.export_configs)
    try:
        run_series(args.profile, data_root=args.data_root, results_dir=args.results, runs_dir=args.runs,
                   device=args.device, dry_run=args.dry_run, only=args.only, progress=sys.stderr.isatty(),
                   workers=args.workers)
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"paperlib reproduce: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
