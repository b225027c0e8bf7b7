"""Table 1 on the test split where the series trains a test phase apart (the full profile on
the Visual Decathlon).

The tables of such a profile show the validation phase (profiles.Profile.test_labels): trained on
train, evaluated on val. Table 1's rows are also trained on train+val (notebooks.TABLE1_PARTS), as
the paper's, and evaluated on the test split. Whether that split is labelled is a fact of the data
found, not of the profile (`test_split_labelled`: the prepared cache's test manifests, labelled
once the authors' labels are placed, data/labels.py):

- labelled: `test_phase_table` is Table 1 in test accuracy from those runs, S with the paper's
  baseline, beside the paper's own; the claims on Table 1 use it (`claims_source`).
- unlabelled: their test predictions are the challenge's evaluation server's to score; the
  server's scores come back through `paperlib report --server-scores FILE` (report/cli.py),
  after which `test_phase_table` holds them; until then the claims use the validation table and
  say so.

Either way one submission per row is written (`write_submissions`, called by the report
notebook); with labels each is also scored locally (`submission_scores`: what the server would
have said).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paperlib.data.cache import split_labelled
from paperlib.data.domains import DOMAINS
from paperlib.data.submission import SubmissionReport, check_submission
from paperlib.report import server_scores
from paperlib.report.score import BASELINE_ACCURACY, PAPER_COLUMNS, decathlon_score
from paperlib.report.server_scores import IMPORT_HINT, ClaimsSource, load_imported_scores, test_table_from_server_scores
from paperlib.report.submissions import check_command, write_row_submissions
from paperlib.report.table1 import SeriesResults, table1, table1_long
from paperlib.report.unlabelled import unlabelled_note
from paperlib.series.notebooks import TABLE1_PARTS, TEST_PHASE, notebook_plans, submission_rows
from paperlib.series.running import load_all
from paperlib.series.study import Study

LABELLED_TITLE = "test split (trained on train+val, evaluated on the labelled test split, as the paper's Table 1)"


@dataclass(frozen=True)
class TestTable:
    """Table 1 on the test split (`table1.table1`'s form), its accuracies per (model, domain,
    seed) for the claims, what it is, and where its numbers come from."""

    table: pd.DataFrame
    long: pd.DataFrame
    title: str
    source: str  # "labels" (the labelled test split), or the server scores' file


TestTable.__test__ = False  # a name pytest would otherwise collect as a test class


def test_split_labelled(study: Study) -> bool:
    """Whether the study's prepared test split has a label for every image of every domain (its
    cache manifests); False before the data is prepared."""
    return split_labelled(study.cache_dir, DOMAINS, "test")


test_split_labelled.__test__ = False


def results_dir(study: Study) -> Path:
    """The study's results store folder (where the imported server scores are kept)."""
    return study.store.root


def _bound_rows(study: Study) -> dict[str, list]:
    return {row: [study.bind(c) for c in configs] for row, configs in submission_rows(study).items()}


def incomplete_rows(study: Study) -> dict[str, int]:
    """{Table 1 row: how many of its test-phase trainings the store lacks}, for the rows that
    cannot be submitted yet."""
    missing = {row: sum(not study.store.exists(c) for c in configs) for row, configs in _bound_rows(study).items()}
    return {row: n for row, n in missing.items() if n}


def write_submissions(study: Study) -> dict[str, tuple[Path, SubmissionReport]]:
    """One submission per Table 1 row whose trainings are all stored, under
    `study.submissions_dir`, each checked against the test split of the study's data:
    {row: (path, report)}. Reads the store, never trains; empty where the profile trains no test
    phase apart (its tables are the test split's)."""
    incomplete = incomplete_rows(study)
    rows = {row: configs for row, configs in _bound_rows(study).items() if row not in incomplete}
    if not rows:
        return {}
    paths = write_row_submissions(study.store, rows, study.submissions_dir)
    return {row: (path, check_submission(path, study.root)) for row, path in paths.items()}


def submissions_summary(study: Study, written: Mapping[str, tuple[Path, SubmissionReport]]) -> str:
    """What was written, whether each file passed the checker, and the command to check it again."""
    lines = [f"{len(written)} submission(s) for the evaluation server in {study.submissions_dir}:"]
    scores = submission_scores(written).set_index("model")
    for row, (path, report) in written.items():
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s): " + "; ".join(report.problems[:3])
        if row in scores.index:  # the test split is labelled: what the server would have said
            verdict += f"; on the labelled test split mean {scores.loc[row, 'mean']:.2f}, S {scores.loc[row, 'S']:.0f}"
        lines.append(f"  {row:<24} {path.name:<28} {verdict}")
    for row, n in incomplete_rows(study).items():
        lines.append(f"  {row:<24} not written: {n} of its trainings are not in the store (run its notebook)")
    if written:
        lines.append("check one again before sending it: "
                     + check_command(next(iter(written.values()))[0], study.root))
    if written and scores.empty:
        lines.append("then bring the server's scores back: paperlib report --server-scores FILE "
                     f"--results {results_dir(study)}")
    return "\n".join(lines)


def test_table(study: Study, sizes: Mapping[str, float] | None = None) -> tuple[pd.DataFrame, str] | None:
    """(Table 1 on the test split from the imported server scores, their source file), or None
    where none were imported."""
    imported = load_imported_scores(results_dir(study), study.profile)
    if imported is None:
        return None
    scores, source = imported
    return test_table_from_server_scores(scores, sizes), source


test_table.__test__ = False  # a name pytest would otherwise collect as a test


def test_phase_results(study: Study, results: SeriesResults) -> SeriesResults:
    """`results` with Table 1's frames taken from the test phase (trained on train+val) and their
    test accuracies; ImNet the source networks' test accuracy. The other frames (Figure 4, the
    ablations) stay the validation phase's."""
    items = [item for notebook in TABLE1_PARTS for item in notebook_plans(study, notebook).get(TEST_PHASE, [])]
    rows, _ = load_all(study.in_phase("test"), items)
    rows = rows.drop_duplicates(["run_id", "domain"], ignore_index=True) if len(rows) else rows
    pretrain = results.pretrain
    pretrain = pretrain.assign(accuracy=pretrain["acc_test"] if "acc_test" in pretrain else float("nan"))
    return dataclasses.replace(results, pretrain=pretrain, table1=rows, a_posteriori=rows.iloc[0:0])


def test_phase_table(study: Study, results: SeriesResults, classes: Mapping[str, int],
                     sizes: Mapping[str, float] | None = None) -> TestTable | None:
    """Table 1 on the test split where the profile trains a test phase apart: from the test
    phase's own runs where the prepared test split is labelled, else from the imported server
    scores, else None (also None where the profile's tables are the test split's: smoke, mini)."""
    if study.settings.test_labels:
        return None
    if test_split_labelled(study):
        test = test_phase_results(study, results)
        table = table1(test, classes=classes, width=study.settings.width, profile=study.profile)
        return TestTable(table, table1_long(test), LABELLED_TITLE, "labels")
    server = test_table(study, sizes)
    if server is None:
        return None
    return TestTable(server[0], server_scores.per_domain(server[0]),
                     f"test split (evaluation server, {server[1]})", server[1])


test_phase_table.__test__ = False


def test_note(study: Study) -> str:
    """Shown where the test table would be: the labels are not available, the submissions are here."""
    return (f"{unlabelled_note('test', study.submissions_dir)}; "
            f"{IMPORT_HINT} to fill the test table, or place the authors' test labels before the series runs "
            f"(`paperlib data labels --root {study.root}`)")


test_note.__test__ = False


def claims_source(study: Study, table: pd.DataFrame, sizes: Mapping[str, float] | None = None,
                  test: TestTable | None = None) -> ClaimsSource:
    """The table the claims use: `table` where the profile's tables are the test split's; else
    the test table `test` (`test_phase_table`; default: the imported server scores, if any), the
    validation table `table` otherwise."""
    if study.settings.test_labels:
        return ClaimsSource(table, study.settings.report_split,
                                          f"claims from the {study.settings.report_split} table")
    if test is not None and test.source == "labels":
        return ClaimsSource(test.table, "test", f"claims on Table 1 from the {test.title}; those on Figure 4 and "
                            "the ablations from their validation runs", long=test.long)
    server = test_table(study, sizes) if test is None else (test.table, test.source)
    return server_scores.claims_source(table, None if server is None else server[0],
                                       scores_file=None if server is None else server[1])


def submission_scores(written: Mapping[str, tuple[Path, SubmissionReport]]) -> pd.DataFrame:
    """Each submission scored on the labelled test split (`check_submission`'s accuracies), in
    Table 1's columns, with the mean and S (the paper's baseline): what the server would have
    said. Rows only for the submissions that could be scored."""
    column_of = {domain: column for column, domain in PAPER_COLUMNS.items()}
    rows = []
    for row, (_, report) in written.items():
        if report.accuracy:
            accs = {column_of[d]: a for d, a in report.accuracy.items() if d in column_of}
            rows.append({"model": row, **accs, "mean": sum(accs.values()) / len(accs),
                         "S": decathlon_score(report.accuracy, BASELINE_ACCURACY)})
    return pd.DataFrame(rows, columns=["model", *PAPER_COLUMNS, "mean", "S"])
