"""The verdicts' confidence level is pinned (verdicts.py fixes it before any run) and every label
that prints it is derived from it, so the tables cannot name one level and compute another."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib.report import claims, verdicts
from paperlib.report.verdicts import INTERVAL_LABEL, LEVEL, replicate_interval

REPORT = Path(verdicts.__file__).resolve().parent


def test_the_level_is_ninety_percent_and_the_label_says_so():
    assert LEVEL == 0.90
    assert INTERVAL_LABEL == "90% interval"


def test_the_interval_is_the_t_interval_at_the_level():
    """Against the t quantile written out, not scipy's confidence_interval."""
    d = np.random.default_rng(0).normal(0.4, 1.0, size=7)
    got = replicate_interval(d)
    half = stats.t.ppf(0.95, df=len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert got.mean == pytest.approx(d.mean())
    assert (got.low, got.high) == pytest.approx((d.mean() - half, d.mean() + half))


def test_the_tables_name_the_interval_by_the_label():
    assert INTERVAL_LABEL in claims.COLUMNS
    empty = pd.DataFrame()
    results = claims.SeriesResults(pretrain=empty, table1=empty, a_posteriori=empty, uniform_decay=empty,
                                   width_dropout=empty, transfer=empty, classes=empty)
    assert INTERVAL_LABEL in claims.claims(pd.DataFrame(columns=["model", "mean", "S"]), results).columns
    assert verdicts.level_label() + " interval" == INTERVAL_LABEL


def _string_constants(tree: ast.AST) -> list[str]:
    """The string literals of a module, docstrings left out (they describe the rule in prose)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_label_in_the_report_hard_codes_a_level():
    hard_coded = {path.name: s for path in sorted(REPORT.glob("*.py"))
                  for s in _string_constants(ast.parse(path.read_text())) if "% interval" in s}
    assert not hard_coded, hard_coded
