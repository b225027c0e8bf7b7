"""The runs log of `paperlib reproduce` and the README's per-notebook table made from it."""

import json

import pytest

from paperlib.series.runs_log import LOG_NAME, TreeMemory, append_entry, count_records, make_entry, series_table


def entry(name, seconds, trainings):
    return make_entry(name, seconds=seconds, trainings=trainings, peak_bytes=3 * 2**30, load_before=1.0)


def test_table_keeps_the_execution_that_trained_and_totals_the_series(tmp_path):
    for e in (entry("01_pretrain", 1200.0, 6), entry("02_series_vs_parallel", 600.0, 54),
              entry("01_pretrain", 3.0, 0),  # a resumed series: every training found in the store
              entry("00_data", 5.0, 0)):
        append_entry(tmp_path, e)
    log = json.loads((tmp_path / LOG_NAME).read_text())
    assert [e["notebook"] for e in log] == ["01_pretrain", "02_series_vs_parallel", "01_pretrain", "00_data"]
    table = series_table(tmp_path / LOG_NAME, ["00_data", "01_pretrain", "02_series_vs_parallel"])
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["`00_data`", "`01_pretrain`", "`02_series_vs_parallel`", "**series**"]
    assert rows[1][1].strip() == "20.0" and rows[1][2].strip() == "6"
    assert rows[-1][1].strip() == f"**{(5 + 1200 + 600) / 60:.1f}**" and rows[-1][2].strip() == "60"
    assert rows[-1][3].strip() == "3,072"


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
