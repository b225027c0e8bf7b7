"""`paperlib report --server-scores FILE`: bring the evaluation server's test scores back.

    paperlib report --server-scores scores.csv [--results results] [--figures figures]

Validates FILE (format: paperlib/report/server_scores.py), stores it as
<results>/<profile>/server-scores.json, where the report notebook's test table and claims find it
(paperlib/report/test_phase.py), and writes the test table beside the paper's,
figures/table1_<profile>_test.md and .csv.

Exit status: 0 on success, 2 on a bad file (its one-line message is printed to stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paperlib.core.errors import DataError
from paperlib.data.facts import decathlon_counts
from paperlib.report.outputs import markdown_table, write_text
from paperlib.report.server_scores import import_server_scores, load_imported_scores, test_table_from_server_scores
from paperlib.report.table1 import size_column, table1_beside_paper


def parser() -> argparse.ArgumentParser:
    """The options of `paperlib report`, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib report", description=__doc__.splitlines()[0])
    p.add_argument("--server-scores", required=True, metavar="FILE",
                   help="per-domain top-1 (%%) and S per row, as JSON or CSV (see paperlib/report/server_scores.py)")
    p.add_argument("--results", default="results",
                   help="the results store, relative to the working directory (default: %(default)s)")
    p.add_argument("--profile", default="full", help="the profile the submissions came from (default: %(default)s)")
    p.add_argument("--figures", default="figures",
                   help="where the test table is written, relative to the working directory (default: %(default)s)")
    p.add_argument("--no-sizes", action="store_true", help="leave the #par column empty (no models built)")
    return p


def import_and_write(scores_file: str | Path, *, results_dir: str | Path = "results", profile: str = "full",
                     figures_dir: str | Path = "figures", sizes: bool = True) -> list[Path]:
    """Import the scores, then write the test table beside the paper's; returns the files."""

    stored = import_server_scores(scores_file, results_dir, profile)
    scores, source = load_imported_scores(results_dir, profile)
    classes = {d: c["classes"] for d, c in decathlon_counts().items()}
    table = test_table_from_server_scores(
        scores, size_column(1.0, classes) if sizes else None)
    beside = table1_beside_paper(table)
    caption = (f"Table 1, test split ({profile} profile): top-1 accuracy (%) and S as returned by the "
               f"Decathlon evaluation server ({source}).")
    out = Path(figures_dir)
    markdown = f"{caption}\n\n{markdown_table(beside)}\n"
    return [stored, write_text(out / f"table1_{profile}_test.md", markdown),
            write_text(out / f"table1_{profile}_test.csv", beside.to_csv(index=False))]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        written = import_and_write(args.server_scores, results_dir=args.results, profile=args.profile,
                                   figures_dir=args.figures, sizes=not args.no_sizes)
    except DataError as err:
        print(f"paperlib report: {err}", file=sys.stderr)
        return 2
    print("\n".join(map(str, written)))
    print(f"the claims follow these scores once the report runs again: paperlib reproduce --profile {args.profile} "
          f"--results {args.results} --only 08_table1_figure4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
