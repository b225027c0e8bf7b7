"""The runs log of `paperlib reproduce`: what each notebook of the series cost.

Every execution of a notebook is one entry of `runs/<tag>/series_log.json`, written when it
starts and brought up to date every minute while it runs (`ExecutionLog`): its wall time, how
many trainings it added to the results store (a series started again reuses the others), the
peak resident memory of the whole process tree (the papermill kernel and its training workers,
sampled every half second), the load average around it and the processor. A series killed
outright (a session's end, the OOM killer) so keeps what it had spent, up to the last minute;
its entry stays "running". `series_table` turns the log into the README's per-notebook table: for
each notebook, the executions of its latest pass that produced something, with the interrupted
ones it resumed from, so the table is the cost of producing the results even when the series ran
in pieces (a rerun that found every training in the store measures nothing).
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from paperlib.core.files import read_json, write_json
from paperlib.core.machine import processor_name, usable_cores
from paperlib.core.paths import project_root

LOG_NAME = "series_log.json"


class TreeMemory:
    """Peak resident memory (bytes) of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _tree_rss(self) -> int:
        import psutil

        root = psutil.Process(os.getpid())
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a worker that ended between the listing and the read
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def count_records(results_dir: str | Path | None, profile: str) -> int:
    """Training records in the store (<results>/<profile>/*.json; default: the project's results/)."""
    folder = Path(results_dir or project_root() / "results") / profile
    return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def append_entry(runs_dir: str | Path, entry: dict) -> Path:
    """Add `entry` to the log, or replace the entry of the same execution (`execution` key)."""
    path = Path(runs_dir) / LOG_NAME
    log = read_json(path) if path.is_file() else []
    same = [i for i, e in enumerate(log) if "execution" in entry and e.get("execution") == entry["execution"]]
    if same:
        log[same[0]] = entry
    else:
        log.append(entry)
    write_json(path, log, sort_keys=True)
    return path


def make_entry(notebook: str, *, seconds: float, trainings: int, peak_bytes: int, load_before: float,
               placement: str = "", cpu_bf16: bool | None = None, status: str = "finished",
               execution: str | None = None) -> dict:
    """One notebook's execution; `placement`: where its trainings ran side by side (the workers
    rule's answer, `workers.describe_slots`), `cpu_bf16`: whether they trained under bf16,
    `status`: running (so far; for good where the series was killed), finished, interrupted
    (Ctrl-C) or failed (a cell's error); `execution`: the id its later updates replace it by."""
    return {"notebook": notebook, "execution": execution or f"{notebook}@{now()}", "status": status,
            "seconds": round(seconds, 1), "trainings_run": trainings,
            "peak_memory_mib": round(peak_bytes / 2**20), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "usable_cores": usable_cores(),
            "processor": processor_name(), "placement": placement, "cpu_bf16": cpu_bf16, "finished": now()}


class ExecutionLog:
    """One notebook's execution in the log of `runs_dir`, kept up to date while it runs.

    `count_trainings()` gives the store's record count (what the execution added is its increase);
    the entry is rewritten every `interval_s` and when the block ends: finished, interrupted by
    Ctrl-C, or failed. Killed outright, the entry keeps its last update, status "running"."""

    def __init__(self, runs_dir: str | Path, notebook: str, *, count_trainings: Callable[[], int],
                 placement: str = "", cpu_bf16: bool | None = None, interval_s: float = 60.0):
        self.runs_dir, self.notebook, self.count_trainings = Path(runs_dir), notebook, count_trainings
        self.placement, self.cpu_bf16, self.interval_s = placement, cpu_bf16, interval_s
        self.memory = TreeMemory()
        self.execution = f"{notebook}@{now()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._lock = threading.Lock()
        self.entry: dict = {}

    def _write(self, status: str) -> None:
        with self._lock:
            self.entry = make_entry(self.notebook, seconds=time.perf_counter() - self.started,
                                    trainings=self.count_trainings() - self.records_before,
                                    peak_bytes=self.memory.peak, load_before=self.load_before,
                                    placement=self.placement, cpu_bf16=self.cpu_bf16, status=status,
                                    execution=self.execution)
            append_entry(self.runs_dir, self.entry)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write("running")

    def __enter__(self) -> "ExecutionLog":
        self.started, self.load_before = time.perf_counter(), os.getloadavg()[0]
        self.records_before = self.count_trainings()
        self.memory.__enter__()
        self._write("running")
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._thread.join()
        self.memory.__exit__()
        status = ("finished" if exc_type is None
                  else "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")
        self._write(status)


def latest_pass(executions: list[dict]) -> list[dict]:
    """A notebook's executions (in log order) that produced its results: its latest finished
    execution that trained something (where none did, its first finished one), with the
    unfinished executions just before it, which it resumed; with none finished, all of them."""
    finished = [i for i, e in enumerate(executions) if e.get("status", "finished") == "finished"]
    if not finished:
        return executions
    trained = [i for i in finished if executions[i]["trainings_run"] > 0]
    last = trained[-1] if trained else finished[0]
    first = max([i + 1 for i in finished if i < last], default=0)
    return executions[first:last + 1]


def measured_entries(log: list[dict], order: list[str]) -> list[dict]:
    """Per notebook in series order, its latest pass (`latest_pass`) summed into one entry:
    seconds and trainings added up, the peak the largest, `executions` how many it took."""
    chosen = []
    for name in order:
        mine = [e for e in log if e["notebook"] == name]
        if not mine:
            continue
        part = latest_pass(mine)
        chosen.append({**part[-1], "seconds": sum(e["seconds"] for e in part),
                       "trainings_run": sum(e["trainings_run"] for e in part),
                       "peak_memory_mib": max(e["peak_memory_mib"] for e in part),
                       "load_before": part[0]["load_before"], "executions": len(part),
                       "processors": sorted({e.get("processor", "not recorded") for e in part})})
    return chosen


def series_table(log_path: str | Path, order: list[str]) -> str:
    """The README's markdown: one row per notebook (its latest pass, `measured_entries`) and the
    series' total, then the processors each ran on and where its trainings ran side by side."""
    entries = measured_entries(read_json(log_path), order)
    if not entries:
        raise ValueError(f"{log_path} holds no notebook executions")
    lines = ["| notebook | wall time (min) | executions | trainings run | peak memory (MiB) "
             "| load (1 min) before / after | ended |",
             "|---|--:|--:|--:|--:|--:|---|"]
    for e in entries:
        status = e.get("status", "finished")
        ended = e["finished"] if status == "finished" else f"{status} at {e['finished']}"
        lines.append(f"| `{e['notebook']}` | {e['seconds'] / 60:.1f} | {e['executions']} | {e['trainings_run']} "
                     f"| {e['peak_memory_mib']:,} | {e['load_before']:.2f} / {e['load_after']:.2f} | {ended} |")
    total_s = sum(e["seconds"] for e in entries)
    lines.append(f"| **series** | **{total_s / 60:.1f}** | {sum(e['executions'] for e in entries)} "
                 f"| {sum(e['trainings_run'] for e in entries)} | {max(e['peak_memory_mib'] for e in entries):,} | | |")
    lines.append("")
    processors = sorted({p for e in entries for p in e["processors"]})
    for processor in processors:
        ran = [e["notebook"] for e in entries if processor in e["processors"]]
        lines.append(f"Processor {processor}: {', '.join(ran) if len(ran) < len(entries) else 'every notebook'}.")
    where = {(e.get("usable_cores"), e.get("placement"), e.get("cpu_bf16")) for e in entries if e.get("placement")}
    for cores, placement, bf16 in sorted(where, key=str):
        lines.append(f"Trainings side by side ({cores} usable cores): {placement}; bf16 autocast on the CPU: "
                     f"{'on' if bf16 else 'off'}.")
    if any(e["executions"] > 1 for e in entries):
        lines.append("A notebook that took more than one execution was interrupted and resumed from the store; "
                     "its time adds them up.")
    return "\n".join(lines) + "\n"
