"""`paperlib reproduce`: execute the notebook series in order with papermill.

    paperlib reproduce --profile mini                       # the main job (make reproduce)
    paperlib reproduce --profile full --data-root DIR       # the paper's setting, on a GPU
    paperlib reproduce --profile full --data-root DIR --dry-run   # that code path, two steps each
    paperlib reproduce --profile full --plan                # every training, its cost and the expected time

Executed notebooks are kept under runs/<profile>/; an interrupted series started again skips
every training already in the results store. The report notebook writes figures/table1_<profile>.*
and figures/fig4_<profile>.*; the mini profile also refreshes the README's results section.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from paperlib.core.files import write_json
from paperlib.core.paths import project_root
from paperlib.core.readme_blocks import update_readme
from paperlib.series.cluster import EXECUTORS, ClusterSettings, submit_series
from paperlib.series.estimate import cpu_rate, format_duration, gpu_bench_rate, planned_runs, totals
from paperlib.series.notebooks import NOTEBOOKS, SERIES, series_trainings
from paperlib.series.params import parameters_cell
from paperlib.series.record import record_series
from paperlib.series.runs_log import LOG_NAME, ExecutionLog, count_records, series_table
from paperlib.series.study import Study, is_option, option_help
from paperlib.series.workers import describe_slots, plan_slots, study_slots

CHECKED = "# NBVAL_CHECK_OUTPUT"


SERIES_TIMES_MARKER = "<!-- begin:series-times -->"


def notebook_dir() -> Path:
    return project_root() / "notebooks"


# The kernel papermill starts listens on this machine's loopback only: its "running over TCP
# without encryption" warning is about other hosts on a network, and a Ctrl-C that reaches it
# after papermill has closed its sockets logs a traceback of the reply it cannot send. A cell's
# own errors reach papermill, not this log, so the series starts the kernel quiet.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


class SeriesInterrupted(KeyboardInterrupt):
    """Ctrl-C during the series, with the notebook it stopped in."""

    def __init__(self, notebook: str):
        super().__init__(notebook)
        self.notebook = notebook


def run_series(study: Study, *, runs_dir: str = "runs", only: list[str] | None = None, kernel: str = "python3",
               progress: bool = True, cluster: ClusterSettings | None = None) -> list[Path]:
    """Execute the notebooks (all, or `only`) with papermill, with the study's options as their
    parameters; returns the executed copies. With `cluster`, their trainings are first submitted
    as jobs (cluster.py) and the notebooks read what the jobs stored."""
    import papermill  # a second to import: the cluster and plan paths do without it

    check_notebooks(only)
    tag = f"{study.profile}-dry-run" if study.dry_run else study.profile
    if study.dry_run and study.results_dir is None:  # a dry run never writes into the project's store
        study = dataclasses.replace(study, results_dir=f"{runs_dir}/{tag}/results")
    out_dir = Path(runs_dir) / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    if cluster is not None:
        submit_series(study, [n for n in NOTEBOOKS if not only or n in only], cluster)
    placement = describe_slots(study_slots(study))
    done = []
    for name in NOTEBOOKS:
        if only and name not in only:
            continue
        print(f"== {name} ({tag})", flush=True)
        out = out_dir / f"{name}.ipynb"
        execution = ExecutionLog(out_dir, name, count_trainings=lambda: count_records(study.results_dir, study.profile),
                                 placement=placement, cpu_bf16=study.cpu_bf16)
        try:
            with execution:
                papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(out),
                                           parameters=study.options(), kernel_name=kernel, cwd=str(Path.cwd()),
                                           progress_bar=progress, extra_arguments=KERNEL_ARGUMENTS)
        except KeyboardInterrupt:
            raise SeriesInterrupted(name) from None
        entry = execution.entry
        print(f"   {name}: {entry['seconds']:.0f} s, {entry['trainings_run']} trainings, "
              f"peak {entry['peak_memory_mib'] / 2**10:.2f} GiB -> {out}", flush=True)
        done.append(out)
    readme = project_root() / "README.md"
    if study.profile == "mini" and not study.dry_run and readme.is_file() and SERIES_TIMES_MARKER in readme.read_text():
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


def check_notebooks(only: list[str] | None) -> None:
    unknown = sorted(set(only or ()) - set(NOTEBOOKS))
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; valid: {', '.join(NOTEBOOKS)}")


def print_plan(study: Study, *, only: list[str] | None = None, export: str | None = None,
               calibrate: bool = False) -> int:
    """Every training of the series, upstream runs included, with the images it trains on and
    its FLOPs, then per notebook and in all the expected time on this CPU (the CPU bench file
    where it was measured on this processor, else calibrated here; always with `calibrate`) and
    on one GPU (the GPU bench files), each figure's source printed. With `export`, each
    training's config as JSON for `[torchrun ...] paperlib train --config FILE`. With `only`,
    what those notebooks train on an empty store (their upstream runs included)."""
    check_notebooks(only)
    trainings = series_trainings(study, only)
    if study.prepared():  # the ids the store will use; unprepared data: the data-free plan's
        trainings = [(notebook, labels, study.bind(config)) for notebook, labels, config in trainings]
    runs = planned_runs(trainings, study.cache_dir)
    print(f"{'notebook':<24} {'method':<10} {'domains':<14} {'width':>5} {'epochs':>6} {'images':>12} {'PFLOP':>9}")
    for run in runs:
        config = run.config
        if export:
            write_json(Path(export) / f"{run.notebook}-{config.method}-{config.run_id}.json", config.to_dict(),
                       sort_keys=True)
        method = config.method + ("*" if run.upstream else "")
        print(f"{run.notebook:<24} {method:<10} {'+'.join(config.domains)[:14]:<14} {config.width:>5g} "
              f"{config.epochs:>6} {run.images:>12,} {run.flops / 1e15:>9.4f}")
    print("* an upstream run (a source network, an SVD's parallel runs, a teacher), listed under the first notebook "
          "that needs it")
    slots = plan_slots(study.settings, "cpu", workers=study.workers)
    rates = {"CPU here": cpu_rate(study.settings, slots, bench=project_root() / "benchmarks" / "cpu.json",
                                  calibrate=calibrate)}
    gpu = gpu_bench_rate(project_root() / "benchmarks", study.settings)
    if gpu is not None:
        rates["one GPU"] = gpu
    print(f"\n{'notebook':<24} {'trainings':>9} {'images':>14} {'PFLOP':>9}" + "".join(f" {k:>14}" for k in rates))
    for name, t in totals(runs, rates).items():
        print(f"{name:<24} {t.trainings:>9} {t.images:>14,} {t.flops / 1e15:>9.3f}"
              + "".join(f" {format_duration(t.seconds[k]):>14}" for k in rates))
    print(f"CPU here: {describe_slots(slots)} side by side, each at {rates['CPU here'].source}")
    if gpu is not None:
        print(f"one GPU: one training at a time, at {gpu.source}")
    print("Times count the training steps only (not evaluation, data preparation or each training's start), "
          "with every worker busy")
    return 0


def add_study_options(parser: argparse.ArgumentParser) -> None:
    """The series options (series.study.Study's `option` fields) as command-line options, each
    with its help and its default: the one declaration the notebooks' parameters also come from."""
    for f in dataclasses.fields(Study):
        if not is_option(f):
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        helped = f"{option_help(f)} (default: {f.default})"
        hint = typing.get_type_hints(Study)[f.name]
        if hint is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                help=helped)
            continue
        number = int in typing.get_args(hint) or hint is int
        parser.add_argument(flag, dest=f.name, default=f.default, type=int if number else str,
                            choices=f.metadata.get("choices"), metavar=f.name.upper() if number else None,
                            help=helped)


def study_from_args(args: argparse.Namespace) -> Study:
    return Study(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Study) if is_option(f)})


def parser() -> argparse.ArgumentParser:
    """`paperlib reproduce`'s options: the series' own (`add_study_options`), then the command's."""
    command = argparse.ArgumentParser(prog="paperlib reproduce", description=__doc__.splitlines()[0])
    add_study_options(command)
    command.add_argument("--runs", default="runs", help="where executed notebooks go (default: runs/)")
    command.add_argument("--plan", action="store_true", help="list every training and its cost, run nothing")
    command.add_argument("--calibrate", action="store_true", help="with --plan: time a few training steps on this "
                        "CPU even where benchmarks/cpu.json was measured on this processor (default: the bench file "
                        "where it fits, else calibrate)")
    command.add_argument("--export-configs", metavar="DIR", help="with --plan: write each training's config JSON "
                        "(default: none)")
    command.add_argument("--store-checked", metavar="EXECUTED_DIR",
                        help="maintainers: strip notebooks/, keeping the checked cells' outputs from EXECUTED_DIR "
                             "(default: none)")
    command.add_argument("--record", metavar="RUNS_DIR",
                        help="maintainers: copy RUNS_DIR's executed notebooks to docs/series/, volatile metadata "
                             "stripped (default: none)")
    command.add_argument("--write-parameter-cells", action="store_true",
                        help="maintainers: regenerate the notebooks' parameters cells from paperlib/series/params.py")
    command.add_argument("--only", nargs="+", metavar="NOTEBOOK", choices=NOTEBOOKS,
                         help=f"a subset of: {', '.join(NOTEBOOKS)} (default: all; with --plan, what they train on an "
                         "empty store)")
    jobs = command.add_argument_group("cluster jobs (submitit)")
    jobs.add_argument("--executor", choices=EXECUTORS, default="local",
                      help="local: train inside the notebooks; slurm: submit the missing trainings as job arrays "
                           "first; processes: the same jobs as processes on this machine (default: local)")
    jobs.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's)")
    jobs.add_argument("--gpus-per-node", type=int, default=1, help="GPUs per job (default: 1)")
    jobs.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per job (default: the cluster's)")
    jobs.add_argument("--mem-gb", type=int, default=None, help="memory per job (default: the cluster's)")
    jobs.add_argument("--timeout-min", type=int, default=24 * 60, help="a job's wall-time limit (default: 1440)")
    jobs.add_argument("--jobs-folder", default="runs/submitit",
                      help="submitit's files and logs, a shared folder (default: runs/submitit)")
    return command


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.write_parameter_cells:
        for path in write_parameter_cells():
            print(path)
        return 0
    if args.store_checked:
        for path in store_checked_outputs(args.store_checked):
            print(path)
        return 0
    if args.record:
        for path in record_series(args.record):
            print(path)
        return 0
    study = study_from_args(args)
    if args.plan:
        return print_plan(study, only=args.only, export=args.export_configs, calibrate=args.calibrate)
    cluster = None if args.executor == "local" else ClusterSettings(
        executor=args.executor, folder=args.jobs_folder, partition=args.partition, gpus_per_node=args.gpus_per_node,
        cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, timeout_min=args.timeout_min)
    try:
        run_series(study, runs_dir=args.runs, only=args.only, progress=sys.stderr.isatty(), cluster=cluster)
    except KeyboardInterrupt as stop:
        where = f" in {stop.notebook}" if isinstance(stop, SeriesInterrupted) else ""
        print(f"\npaperlib reproduce: interrupted{where}; the store keeps every finished training and a killed "
              "one resumes from its last epoch: the same command goes on from there", file=sys.stderr)
        return 130
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"paperlib reproduce: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
