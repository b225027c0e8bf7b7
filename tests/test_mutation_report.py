"""make mutation's report (tests/mutation/report.py): every survivor of the core is either
explained in docs/mutation.md or fails the run."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

REPORT_SCRIPT = Path(__file__).parent / "mutation" / "report.py"


def load_report():
    spec = importlib.util.spec_from_file_location("mutation_report", REPORT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_mutmut(tmp_path: Path, lines: list[str]) -> str:
    """An executable that answers `results` as mutmut 3 does."""
    script = tmp_path / "mutmut"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + "\n".join(lines) + "\nEOF\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def explanation(tmp_path: Path, rows: dict[str, str]) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mutation.md").write_text("| mutant | why it survives |\n|---|---|\n"
                                      + "".join(f"| `{n}` | {why} |\n" for n, why in rows.items()))


def test_an_unexplained_survivor_fails_and_is_listed(tmp_path, monkeypatch):
    report = load_report()
    mutmut = fake_mutmut(tmp_path, ["    paperlib.report.verdicts.x_compare__mutmut_3: survived",
                                    "    paperlib.train.engine.x__resume__mutmut_8: survived",
                                    "    paperlib.report.score.x_decathlon_score__mutmut_1: killed",
                                    "    paperlib.model.adapters.x_forward__mutmut_2: timeout"])
    explanation(tmp_path, {"paperlib.train.engine.x__resume__mutmut_8": "one second of bookkeeping"})
    monkeypatch.chdir(tmp_path)
    assert report.main(mutmut) == 1
    text = (tmp_path / "mutants" / "survivors.md").read_text()
    unexplained, explained = text.split("## Explained")
    assert "x_compare__mutmut_3" in unexplained and "x_forward__mutmut_2" in unexplained
    assert "x__resume__mutmut_8" in explained and "one second of bookkeeping" in explained
    assert "x_decathlon_score__mutmut_1" not in text
    assert "3 in the core, 2 of them unexplained" in text


def test_every_survivor_explained_passes(tmp_path, monkeypatch):
    report = load_report()
    mutmut = fake_mutmut(tmp_path, ["    paperlib.train.engine.x__resume__mutmut_8: survived",
                                    "    paperlib.report.score.x_decathlon_score__mutmut_1: killed"])
    explanation(tmp_path, {"paperlib.train.engine.x__resume__mutmut_8": "one second of bookkeeping"})
    monkeypatch.chdir(tmp_path)
    assert report.main(mutmut) == 0


def test_each_reason_says_which_kind_of_survivor_it_is(tmp_path, monkeypatch):
    report = load_report()
    mutmut = fake_mutmut(tmp_path, ["    paperlib.train.engine.x__resume__mutmut_8: survived",
                                    "    paperlib.train.step.x_train_step__mutmut_2: survived"])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "mutation.md").write_text(
        "## Equivalent mutants\n\n| mutant | why |\n|---|---|\n"
        "| `paperlib.train.engine.x__resume__mutmut_8` | one second of bookkeeping |\n\n"
        "## Reached only on a GPU\n\n| mutant | why |\n|---|---|\n"
        "| `paperlib.train.step.x_train_step__mutmut_2` | the CUDA branch |\n")
    monkeypatch.chdir(tmp_path)
    assert report.main(mutmut) == 0
    text = (tmp_path / "mutants" / "survivors.md").read_text()
    assert "x__resume__mutmut_8` (survived): Equivalent mutants: one second of bookkeeping" in text
    assert "x_train_step__mutmut_2` (survived): Reached only on a GPU: the CUDA branch" in text
