"""The runs log of `paperlib reproduce`: what each notebook of the series cost.

Every executed notebook appends one entry to `runs/<tag>/series_log.json`: its wall time, how many
trainings it added to the results store (an interrupted series started again reuses the others),
the peak resident memory of the whole process tree (the papermill kernel and its training
workers, sampled every half second) and the load average around it. `series_table` turns the log
into the README's per-notebook table: for each notebook, its latest execution that trained
something (a rerun that found every training in the store measures nothing), so the table stays
the cost of producing the results even when the series was resumed.
"""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path

from paperlib.core.files import read_json, write_json
from paperlib.core.machine import usable_cores
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


def append_entry(runs_dir: str | Path, entry: dict) -> Path:
    path = Path(runs_dir) / LOG_NAME
    log = read_json(path) if path.is_file() else []
    log.append(entry)
    write_json(path, log, sort_keys=True)
    return path


def make_entry(notebook: str, *, seconds: float, trainings: int, peak_bytes: int, load_before: float,
               placement: str = "", cpu_bf16: bool | None = None) -> dict:
    """One notebook's execution; `placement`: where its trainings ran side by side (the workers
    rule's answer, `workers.describe_slots`), `cpu_bf16`: whether they trained under bf16."""
    return {"notebook": notebook, "seconds": round(seconds, 1), "trainings_run": trainings,
            "peak_memory_mib": round(peak_bytes / 2**20), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "usable_cores": usable_cores(),
            "placement": placement, "cpu_bf16": cpu_bf16,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def measured_entries(log: list[dict], order: list[str]) -> list[dict]:
    """Per notebook in series order: its latest execution that trained something, else its latest."""
    chosen = []
    for name in order:
        mine = [e for e in log if e["notebook"] == name]
        if mine:
            trained = [e for e in mine if e["trainings_run"] > 0]
            chosen.append((trained or mine)[-1])
    return chosen


def series_table(log_path: str | Path, order: list[str]) -> str:
    """The README's markdown: one row per notebook and the series' total."""
    entries = measured_entries(read_json(log_path), order)
    if not entries:
        raise ValueError(f"{log_path} holds no notebook executions")
    lines = ["| notebook | wall time (min) | trainings run | peak memory (MiB) | load (1 min) before / after | finished |",
             "|---|--:|--:|--:|--:|---|"]
    for e in entries:
        lines.append(f"| `{e['notebook']}` | {e['seconds'] / 60:.1f} | {e['trainings_run']} | {e['peak_memory_mib']:,} "
                     f"| {e['load_before']:.2f} / {e['load_after']:.2f} | {e['finished']} |")
    total_s = sum(e["seconds"] for e in entries)
    lines.append(f"| **series** | **{total_s / 60:.1f}** | {sum(e['trainings_run'] for e in entries)} "
                 f"| {max(e['peak_memory_mib'] for e in entries):,} | | |")
    where = {(e.get("usable_cores"), e.get("placement"), e.get("cpu_bf16")) for e in entries if e.get("placement")}
    for cores, placement, bf16 in sorted(where, key=str):
        lines.append("")
        lines.append(f"Trainings side by side ({cores} usable cores): {placement}; bf16 autocast on the CPU: "
                     f"{'on' if bf16 else 'off'}.")
    return "\n".join(lines) + "\n"
