"""`paperlib reproduce`: execute the notebook series in order with papermill.

    paperlib reproduce --profile mini                       # the main job (make reproduce)
    paperlib reproduce --profile full --data-root DIR       # the paper's setting, on a GPU
    paperlib reproduce --profile full --data-root DIR --dry-run   # that code path, two steps each
    paperlib reproduce --profile full --plan                # every training and its estimated cost

Executed notebooks are kept under runs/<profile>/; an interrupted series started again skips
every training already in the results store. The report notebook writes figures/table1_<profile>.*
and figures/fig4_<profile>.*; the mini profile also refreshes the README's results section.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from paperlib.core.files import write_json
from paperlib.core.paths import project_root
from paperlib.core.readme_blocks import update_readme
from paperlib.series.cluster import EXECUTORS, ClusterSettings, submit_series
from paperlib.series.cost import run_flops, train_set_sizes, training_images
from paperlib.series.notebooks import NOTEBOOKS, SERIES, series_plan
from paperlib.series.params import Params, parameters_cell
from paperlib.series.runs_log import LOG_NAME, TreeMemory, append_entry, count_records, make_entry, series_table
from paperlib.series.study import Study
from paperlib.series.workers import describe_slots

CHECKED = "# NBVAL_CHECK_OUTPUT"


SERIES_TIMES_MARKER = "<!-- begin:series-times -->"


def notebook_dir() -> Path:
    return project_root() / "notebooks"


def run_series(profile: str, *, data_root: str | None = None, results_dir: str | None = None,
               runs_dir: str = "runs", device: str = "auto", dry_run: bool = False,
               only: list[str] | None = None, kernel: str = "python3", progress: bool = True,
               workers: int | None = None, seeds: int | None = None, cpu_bf16: bool | None = None,
               runs_per_gpu: int = 1, cluster: ClusterSettings | None = None) -> list[Path]:
    """Execute the notebooks (all, or `only`) with papermill; returns the executed copies. With
    `cluster`, their trainings are first submitted as jobs (cluster.py) and the notebooks read
    what the jobs stored."""
    import papermill  # a second to import: the cluster and plan paths do without it

    unknown = sorted(set(only or ()) - set(NOTEBOOKS))
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; valid: {', '.join(NOTEBOOKS)}")
    tag = f"{profile}-dry-run" if dry_run else profile
    results_dir = results_dir or (f"{runs_dir}/{tag}/results" if dry_run else None)  # None: the project's results/
    out_dir = Path(runs_dir) / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "data_root": data_root, "results_dir": results_dir, "device": device,
              "dry_run": dry_run, "workers": workers, "seeds": seeds, "cpu_bf16": cpu_bf16, "runs_per_gpu": runs_per_gpu}
    study = Params.from_dict(params).study
    if cluster is not None:
        submit_series(study, [n for n in NOTEBOOKS if not only or n in only], cluster)
    placement = describe_slots(study.slots)
    done = []
    for name in NOTEBOOKS:
        if only and name not in only:
            continue
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        records_before = count_records(results_dir, profile)
        print(f"== {name} ({tag})", flush=True)
        out = out_dir / f"{name}.ipynb"
        with TreeMemory() as memory:
            papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(out), parameters=params,
                                       kernel_name=kernel, cwd=str(Path.cwd()), progress_bar=progress)
        seconds = time.perf_counter() - started
        trained = count_records(results_dir, profile) - records_before
        append_entry(out_dir, make_entry(name, seconds=seconds, trainings=trained, peak_bytes=memory.peak,
                                         load_before=load_before, placement=placement, cpu_bf16=study.bf16_on_cpu))
        print(f"   {name}: {seconds:.0f} s, {trained} trainings, peak {memory.peak / 2**30:.2f} GiB -> {out}",
              flush=True)
        done.append(out)
    readme = project_root() / "README.md"
    if profile == "mini" and not dry_run and readme.is_file() and SERIES_TIMES_MARKER in readme.read_text():
        update_readme(readme, "series-times", series_table(out_dir / LOG_NAME, list(NOTEBOOKS)))
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
    """Regenerate every notebook's `parameters` cell from its Params dataclass (notebooks.SERIES),
    the single source of the notebooks' parameters; returns the notebooks that changed."""
    import nbformat

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
               export: str | None = None, seeds: int | None = None, cpu_bf16: bool | None = None) -> int:
    """Every training of the series with its cost estimate (images seen and FLOPs); with
    `export`, each training's config as JSON for `[torchrun ...] paperlib train --config FILE`."""
    study = Study(profile=profile, data_root=data_root, dry_run=dry_run, seeds=seeds, cpu_bf16=cpu_bf16)
    plan = series_plan(study)
    if study.prepared():  # the ids the store will use; unprepared data: the data-free plan's
        plan = [(notebook, labels, study.bind(config)) for notebook, labels, config in plan]
    # a profile without test labels trains on train (validation phase) and on train+val (test phase)
    sizes = {phase_split: train_set_sizes(study.in_phase(phase).settings, study.cache_dir)
             for phase_split, phase in (("train", "validation"), ("trainval", "test"))}
    total_flops = 0.0
    print(f"{'notebook':<24} {'method':<9} {'domains':<14} {'width':>5} {'epochs':>6} {'images':>12} {'PFLOP':>8}")
    for notebook, labels, config in plan:
        split_sizes = sizes.get(config.train_split, sizes["train"])
        images = training_images(config, lambda d: split_sizes.get(d, 0))
        flops = run_flops(config, lambda d: split_sizes.get(d, 0), default_crop=study.settings.crop)
        total_flops += flops
        if export:
            write_json(Path(export) / f"{notebook}-{config.method}-{config.run_id}.json", config.to_dict(), sort_keys=True)
        print(f"{notebook:<24} {config.method:<9} {'+'.join(config.domains)[:14]:<14} {config.width:>5g} "
              f"{config.epochs:>6} {images:>12,.0f} {flops / 1e15:>8.2f}")
    print(f"{len(plan)} trainings, {total_flops / 1e15:.1f} PFLOP in all; at 40% of an H100's ~400 TFLOP/s "
          f"(bf16, dense) that is about {total_flops / (0.4 * 400e12) / 3600:.1f} GPU-hours")
    return 0


def _on_off(value: str) -> bool | None:
    return {"on": True, "off": False, "auto": None}[value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paperlib reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="mini", choices=("smoke", "mini", "full"))
    parser.add_argument("--data-root", default=None, help="folder holding decathlon-1.0/ (default data/<profile>)")
    parser.add_argument("--results", default=None, help="results store (default results/, runs/<tag>/results for dry runs)")
    parser.add_argument("--runs", default="runs", help="where executed notebooks go (default runs/)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dry-run", action="store_true", help="the profile's settings, two steps per training")
    parser.add_argument("--plan", action="store_true", help="list every training and its cost, run nothing")
    parser.add_argument("--export-configs", metavar="DIR", help="with --plan: write each training's config JSON")
    parser.add_argument("--store-checked", metavar="EXECUTED_DIR",
                        help="maintainers: strip notebooks/, keeping the checked cells' outputs from EXECUTED_DIR")
    parser.add_argument("--write-parameter-cells", action="store_true",
                        help="maintainers: regenerate the notebooks' parameters cells from paperlib/series/params.py")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds of every adaptation (default: the profile's: smoke 2, mini 3, full 1)")
    parser.add_argument("--cpu-bf16", choices=("auto", "on", "off"), default="auto",
                        help="bf16 autocast on the CPU, part of each run's spec (auto: the profile's, float32 at every profile)")
    parser.add_argument("--workers", type=int, default=None,
                        help="trainings side by side (default: from the machine's cores, memory and GPUs); never "
                             "changes which runs are trained")
    parser.add_argument("--runs-per-gpu", type=int, default=1, help="trainings sharing one GPU (default 1)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=f"a subset of: {', '.join(NOTEBOOKS)}")
    jobs = parser.add_argument_group("cluster jobs (submitit)")
    jobs.add_argument("--executor", choices=EXECUTORS, default="local",
                      help="local: train inside the notebooks; slurm: submit the missing trainings as job arrays "
                           "first; processes: the same jobs as processes on this machine")
    jobs.add_argument("--partition", default=None, help="SLURM partition")
    jobs.add_argument("--gpus-per-node", type=int, default=1, help="GPUs per job (default 1)")
    jobs.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per job")
    jobs.add_argument("--mem-gb", type=int, default=None, help="memory per job")
    jobs.add_argument("--timeout-min", type=int, default=24 * 60, help="a job's wall-time limit (default 24 h)")
    jobs.add_argument("--jobs-folder", default="runs/submitit", help="submitit's files and logs (a shared folder)")
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
        return print_plan(args.profile, data_root=args.data_root, dry_run=args.dry_run, export=args.export_configs,
                          seeds=args.seeds, cpu_bf16=_on_off(args.cpu_bf16))
    cluster = None if args.executor == "local" else ClusterSettings(
        executor=args.executor, folder=args.jobs_folder, partition=args.partition, gpus_per_node=args.gpus_per_node,
        cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, timeout_min=args.timeout_min)
    try:
        run_series(args.profile, data_root=args.data_root, results_dir=args.results, runs_dir=args.runs,
                   device=args.device, dry_run=args.dry_run, only=args.only, progress=sys.stderr.isatty(),
                   workers=args.workers, seeds=args.seeds, cpu_bf16=_on_off(args.cpu_bf16),
                   runs_per_gpu=args.runs_per_gpu, cluster=cluster)
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"paperlib reproduce: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
