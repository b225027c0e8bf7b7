"""The test split where its labels are not released (the full profile on the Visual Decathlon).

The tables of such a profile show the validation phase (profiles.Profile.test_labels): trained on
train, evaluated on val. Table 1's rows are also trained on train+val (notebooks.TABLE1_PARTS), and
their test predictions become one submission file per row for the challenge's evaluation server
(`write_submissions`, called by the report notebook). The server's scores come back through
`paperlib report --server-scores FILE` (report/cli.py), after which `test_table` holds them and the
claims use them (`claims_source`); until then the claims use the validation table and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from paperlib.data.submission import SubmissionReport, check_submission
from paperlib.report import server_scores
from paperlib.report.server_scores import IMPORT_HINT, ClaimsSource, load_imported_scores, test_table_from_server_scores
from paperlib.report.submissions import check_command, write_row_submissions
from paperlib.report.unlabelled import unlabelled_note
from paperlib.series.notebooks import submission_rows
from paperlib.series.study import Study


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
    {row: (path, report)}. Reads the store, never trains; empty where the profile's test labels
    are released."""
    incomplete = incomplete_rows(study)
    rows = {row: configs for row, configs in _bound_rows(study).items() if row not in incomplete}
    if not rows:
        return {}
    paths = write_row_submissions(study.store, rows, study.submissions_dir)
    return {row: (path, check_submission(path, study.root)) for row, path in paths.items()}


def submissions_summary(study: Study, written: Mapping[str, tuple[Path, SubmissionReport]]) -> str:
    """What was written, whether each file passed the checker, and the command to check it again."""
    lines = [f"{len(written)} submission(s) for the evaluation server in {study.submissions_dir}:"]
    for row, (path, report) in written.items():
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s): " + "; ".join(report.problems[:3])
        lines.append(f"  {row:<24} {path.name:<28} {verdict}")
    for row, n in incomplete_rows(study).items():
        lines.append(f"  {row:<24} not written: {n} of its trainings are not in the store (run its notebook)")
    if written:
        lines.append("check one again before sending it: "
                     + check_command(next(iter(written.values()))[0], study.root))
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


def test_note(study: Study) -> str:
    """Shown where the test table would be: the labels are not available, the submissions are here."""
    return (f"{unlabelled_note('test', study.submissions_dir)}; "
            f"{IMPORT_HINT} to fill the test table")


test_note.__test__ = False


def claims_source(study: Study, table: pd.DataFrame,
                  sizes: Mapping[str, float] | None = None) -> ClaimsSource:
    """The table the claims use: `table` where the profile's test labels are released (it is the
    test table); else the server's test table when imported, the validation table `table` otherwise."""
    if study.settings.test_labels:
        return ClaimsSource(table, study.settings.report_split,
                                          f"claims from the {study.settings.report_split} table")
    test = test_table(study, sizes)
    return server_scores.claims_source(table, None if test is None else test[0],
                                       scores_file=None if test is None else test[1])
