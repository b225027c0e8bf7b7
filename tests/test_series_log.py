"""The runs log of `paperlib reproduce` and the README's per-notebook table made from it."""

import json
import time

import pytest

from paperlib.series.runs_log import (LOG_NAME, ExecutionLog, TreeMemory, append_entry, count_records, make_entry,
                                      series_table)


def entry(name, seconds, trainings, status="finished", n=[0]):
    n[0] += 1  # each execution its own id, as the start time gives them in a series
    return make_entry(name, seconds=seconds, trainings=trainings, peak_bytes=3 * 2**30, load_before=1.0,
                      status=status, execution=f"{name}#{n[0]}")


def table_rows(log_dir, order):
    table = series_table(log_dir / LOG_NAME, order)
    return [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")][1:], table


def test_table_keeps_the_execution_that_trained_and_totals_the_series(tmp_path):
    for e in (entry("01_pretrain", 1200.0, 6), entry("02_series_vs_parallel", 600.0, 54),
              entry("01_pretrain", 3.0, 0),  # a resumed series: every training found in the store
              entry("00_data", 5.0, 0)):
        append_entry(tmp_path, e)
    log = json.loads((tmp_path / LOG_NAME).read_text())
    assert [e["notebook"] for e in log] == ["01_pretrain", "02_series_vs_parallel", "01_pretrain", "00_data"]
    rows, _ = table_rows(tmp_path, ["00_data", "01_pretrain", "02_series_vs_parallel"])
    assert [r[0].strip() for r in rows] == ["`00_data`", "`01_pretrain`", "`02_series_vs_parallel`", "**series**"]
    assert rows[1][1].strip() == "20.0" and rows[1][2].strip() == "1" and rows[1][3].strip() == "6"
    assert rows[-1][1].strip() == f"**{(5 + 1200 + 600) / 60:.1f}**" and rows[-1][3].strip() == "60"
    assert rows[-1][4].strip() == "3,072"


def test_a_notebook_run_in_pieces_counts_every_piece_of_its_latest_pass(tmp_path):
    """A series killed at a session's end and started again: the notebook's cost is the killed
    execution's time (its last update) plus the one that finished it; an earlier complete pass
    and a later rerun that found everything in the store are not part of it."""
    for e in (entry("01_pretrain", 100.0, 2),                     # an earlier pass with fewer trainings
              entry("01_pretrain", 4000.0, 3, status="running"),  # killed outright: its last update
              entry("01_pretrain", 50.0, 0, status="interrupted"),  # Ctrl-C while a training resumed
              entry("01_pretrain", 2000.0, 4),                    # finished the pass
              entry("01_pretrain", 6.0, 0)):                      # a rerun reading the store
        append_entry(tmp_path, e)
    rows, table = table_rows(tmp_path, ["01_pretrain"])
    assert rows[0][1].strip() == f"{6050 / 60:.1f}" and rows[0][2].strip() == "3" and rows[0][3].strip() == "7"
    assert "interrupted and resumed" in table


def test_a_notebook_still_running_shows_what_it_has_spent(tmp_path):
    append_entry(tmp_path, entry("00_data", 300.0, 0))
    append_entry(tmp_path, entry("01_pretrain", 1800.0, 5, status="running"))
    rows, table = table_rows(tmp_path, ["00_data", "01_pretrain"])
    assert rows[1][1].strip() == "30.0" and rows[1][6].strip().startswith("running at ")
    assert rows[0][6].strip() != "" and not rows[0][6].strip().startswith("running")


def test_the_table_names_the_processors_and_which_notebooks_ran_on_each(tmp_path):
    first, second = entry("00_data", 60.0, 0), entry("01_pretrain", 600.0, 3, status="running")
    third = entry("01_pretrain", 600.0, 3)
    first["processor"] = second["processor"] = "Intel(R) Xeon(R) Processor"
    third["processor"] = "AMD EPYC 9R14"
    for e in (first, second, third):
        append_entry(tmp_path, e)
    _, table = table_rows(tmp_path, ["00_data", "01_pretrain"])
    assert "Processor AMD EPYC 9R14: 01_pretrain." in table
    assert "Processor Intel(R) Xeon(R) Processor: every notebook." in table


def test_an_execution_is_in_the_log_while_it_runs_and_says_how_it_ended(tmp_path):
    records = [0]
    log = tmp_path / LOG_NAME
    with ExecutionLog(tmp_path, "01_pretrain", count_trainings=lambda: records[0], interval_s=0.05):
        records[0] = 2
        time.sleep(0.3)
        running = json.loads(log.read_text())
        assert len(running) == 1 and running[0]["status"] == "running"
        assert running[0]["seconds"] > 0 and running[0]["trainings_run"] == 2
    ended = json.loads(log.read_text())
    assert len(ended) == 1 and ended[0]["status"] == "finished" and ended[0]["seconds"] >= 0.3
    with pytest.raises(KeyboardInterrupt):
        with ExecutionLog(tmp_path, "02_series_vs_parallel", count_trainings=lambda: records[0], interval_s=60):
            raise KeyboardInterrupt
    with pytest.raises(RuntimeError):
        with ExecutionLog(tmp_path, "03_placement", count_trainings=lambda: records[0], interval_s=60):
            raise RuntimeError("a cell failed")
    assert [e["status"] for e in json.loads(log.read_text())] == ["finished", "interrupted", "failed"]


def test_an_empty_log_is_an_error(tmp_path):
    (tmp_path / LOG_NAME).write_text("[]")
    with pytest.raises(ValueError, match="no notebook executions"):
        series_table(tmp_path / LOG_NAME, ["00_data"])


def test_tree_memory_counts_a_child_process():
    import subprocess
    import sys

    with TreeMemory(interval_s=0.05) as memory:
        # a child holding ~200 MB for a moment: the tree's peak must include it
        subprocess.run([sys.executable, "-c", "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)"],
                       check=True)
    alone = TreeMemory()._tree_rss()
    assert memory.peak >= alone + 150 * 2**20


def test_records_are_counted_per_profile(tmp_path):
    (tmp_path / "mini").mkdir()
    for name in ("a.json", "b.json", "a.safetensors"):
        (tmp_path / "mini" / name).write_text("{}")
    assert count_records(tmp_path, "mini") == 2
    assert count_records(tmp_path, "smoke") == 0
