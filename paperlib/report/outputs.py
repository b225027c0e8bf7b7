"""What the report writes: Markdown tables, the figures and tables under figures/ (a dry run's
beside its own store, never in the project's figures/), and, for the mini profile, the README's
results blocks (all atomically). Numbers in the README are inserted from here, never typed."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from paperlib.core.files import write_bytes
from paperlib.core.paths import project_root
from paperlib.core.readme_blocks import update_readme
from paperlib.report.budget import write_budget_csv
from paperlib.report.claims import PRIMARY
from paperlib.report.pareto import budget_markdown
from paperlib.report.plots import save_figure
from paperlib.report.score import PAPER_COLUMNS
from paperlib.report.table1 import table1_beside_paper
from paperlib.report.verdicts import INTERVAL_LABEL, LEVEL, MARGIN, UNIT, UNRESOLVED, VERDICTS
from paperlib.series.study import Study


def markdown_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v) -> str:
        if isinstance(v, float):  # scores (hundreds, thousands) as integers, accuracies with decimals
            return "–" if pd.isna(v) else f"{v:.0f}" if abs(v) >= 100 else f"{v:.{digits}f}"
        return str(v)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    write_bytes(path, text.encode())
    return path


BEYOND_THE_PAPER = re.compile(r"\s*\((?:beyond|not in) the paper\)\s*$")


def findings_markdown(claims_table: pd.DataFrame, *, profile: str, replicates: int) -> str:
    """The README's findings in a few lines, read from the claims table (`claims.claims`): how
    many claims came out each way, the primary claim's difference with its interval and verdict,
    and the verdict of each claim beyond the paper (those whose name ends "(beyond the paper)" or
    "(not in the paper)"). A verdict outside the four (a smoke run's, "n/a") counts as not judged."""
    verdicts = [UNRESOLVED if str(v).startswith(UNRESOLVED) else str(v) for v in claims_table["verdict"]]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS if verdicts.count(v))
    unjudged = sum(v not in VERDICTS for v in verdicts)
    lines = [f"**Findings** ({profile} profile, {replicates} replicate{'s' if replicates != 1 else ''} of the whole "
             f"pipeline; each verdict on a {LEVEL:.0%} interval over the {UNIT}s, equivalence within "
             f"±{MARGIN:g} point):", "",
             f"- {len(verdicts)} claims: {counts or 'none judged'}" + (f", {unjudged} not judged" if unjudged else "")
             + "."]
    primary = claims_table[claims_table["claim"] == PRIMARY]
    if len(primary):
        row = primary.iloc[0]
        lines.append(f"- The headline, \"{PRIMARY}\": parallel - finetuning {row['difference']} points of mean "
                     f"accuracy, {INTERVAL_LABEL} {row[INTERVAL_LABEL]}: **{row['verdict']}**.")
    beyond = claims_table[claims_table["claim"].str.contains(BEYOND_THE_PAPER)]
    if len(beyond):
        lines.append("- Beyond the paper: " + "; ".join(
            f"\"{BEYOND_THE_PAPER.sub('', row.claim)}\": {row.verdict}" for row in beyond.itertuples()) + ".")
    return "\n".join(lines) + "\n"


def outputs_folder(study: Study) -> Path | None:
    """Where the report writes its tables and figures: the project's figures/; for a dry run,
    beside its own store (`paperlib reproduce --dry-run`: runs/<profile>-dry-run/figures), or
    nowhere (None) where it has none: a dry run checks a code path, it is no result."""
    if not study.dry_run:
        return project_root() / "figures"
    return Path(study.results_dir).parent / "figures" if study.results_dir else None


def _write_table1(out: Path, name: str, caption: str, ours: pd.DataFrame) -> tuple[str, list[Path]]:
    """NAME.md (beside the paper's, with the spread of the mean and S over the replicates) and .csv (also
    each domain's spread, where the table has one); returns the Markdown and the paths."""
    beside = table1_beside_paper(ours)
    spread = ours.reindex(columns=["model", *(f"{c}_sd" for c in PAPER_COLUMNS)]).assign(source="ours")
    table_md = f"{caption}\n\n{markdown_table(beside)}\n"
    return table_md, [write_text(out / f"{name}.md", table_md),
                      write_text(out / f"{name}.csv",
                                 beside.merge(spread, on=["model", "source"], how="left").to_csv(index=False))]


def write_outputs(study: Study, ours: pd.DataFrame, figure, claims_table: pd.DataFrame,
                  *, checkpoint: pd.DataFrame | None = None, family: str | None = None,
                  test: tuple[pd.DataFrame, str] | None = None,
                  figures_dir: str | Path | None = None, readme: str | Path | None = None) -> list[Path]:
    """figures/table1_<profile>.md|csv (`_write_table1`; table1_<profile>_val where the tables are
    a validation phase, and then `test`, (Table 1 on the test split, what it is), as
    table1_<profile>_test), figures/fig4_<profile>.png|pdf, and, for the mini profile, the
    README's results block (the claims table with its `family` line, Table 1, Figure 4, and
    `checkpoint_effect`'s table when given) and its findings (all written atomically; default
    folder: `outputs_folder(study)`, the README the project's, never a dry run's). `ours`:
    `table1.table1`."""
    out = Path(figures_dir) if figures_dir is not None else outputs_folder(study)
    if out is None:
        raise ValueError("a dry run without a results store of its own writes no tables (give it results_dir)")
    readme = Path(readme) if readme is not None else project_root() / "README.md"
    profile = study.profile
    n = study.replicate_count
    replicates_text = (f"the mean over {n} replicate{'s' if n > 1 else ''} of the whole pipeline "
                       "(sd: their standard deviation)")
    baseline = f"S with {'the paper' if profile == 'full' else 'our Finetuning row'}'s baseline"
    caption = (f"Table 1 reproduced ({profile} profile): top-1 accuracy (%) on the {study.settings.table_title}, "
               f"{replicates_text}; {baseline}.")
    name = f"table1_{profile}" if study.settings.test_labels else f"table1_{profile}_val"
    table_md, written = _write_table1(out, name, caption, ours)
    if test is not None:
        of_seeds = f", {replicates_text}" if "replicates" in test[0] else ""  # the server's scores: one run per row
        test_caption = (f"Table 1 reproduced ({profile} profile): top-1 accuracy (%) on the {test[1]}{of_seeds}; "
                        f"{baseline}.")
        written += _write_table1(out, f"table1_{profile}_test", test_caption, test[0])[1]
    written += [save_figure(figure, out / f"fig4_{profile}.png"), save_figure(figure, out / f"fig4_{profile}.pdf")]
    if study.prepared():  # what each number cost, in SGD steps (from the plans and the cache's train labels)
        written.append(write_budget_csv(study, out))
    if profile == "mini" and not study.dry_run and Path(readme).is_file():
        block = (f"Claims of the paper and what the mini run shows (verdicts: `paperlib/report/verdicts.py`). "
                 f"{family or ''}\n\n{markdown_table(claims_table)}\n\n{table_md}\n"
                 "![Figure 4, mini profile](figures/fig4_mini.png)\n")
        if checkpoint is not None and len(checkpoint):
            block += ("\nThe checkpoint the tables report (the last epoch's) against the one the authors keep "
                      f"(best on validation), mean target accuracy of each row:\n\n{markdown_table(checkpoint)}\n")
        update_readme(readme, "mini-results", block)
        update_readme(readme, "findings", findings_markdown(claims_table, profile=profile, replicates=n))
        update_readme(readme, "lora-budget", budget_markdown())
        written.append(Path(readme))
    return written
