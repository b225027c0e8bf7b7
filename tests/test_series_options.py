"""Each series option is declared once (series/study.py, `Study`'s `option` fields) and reaches the
notebooks' parameters, their cells, the study and `paperlib reproduce` with the same default."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from paperlib.series.notebooks import SERIES
from paperlib.series.params import parameters_cell
from paperlib.series.reproduce import parser, study_from_args
from paperlib.series.study import Study, is_option, option_help

OPTIONS = [f for f in dataclasses.fields(Study) if is_option(f)]


def test_the_options_are_the_studys_option_fields():
    assert {f.name for f in OPTIONS} >= {"profile", "data_root", "results_dir", "device", "seed", "dry_run",
                                          "replicates", "cpu_bf16", "workers", "runs_per_gpu"}
    assert not {"replicate", "phase"} & {f.name for f in OPTIONS}  # which copy and phase: not options


@pytest.mark.parametrize("name", list(SERIES))
def test_every_option_reaches_each_notebook_with_its_default(name, monkeypatch):
    monkeypatch.delenv("PAPERLIB_PROFILE", raising=False)
    params = SERIES[name][0]
    fields = {f.name: f for f in dataclasses.fields(params)}
    cell = parameters_cell(params).splitlines()
    for option in OPTIONS:
        assert fields[option.name].default == option.default, (name, option.name)
        assert any(line.startswith(f"{option.name} = ") and line.endswith(f"# {option_help(option)}")
                   for line in cell), (name, option.name)
    assert params().study == Study()


def test_every_option_reaches_the_command_with_its_default_and_help():
    actions = {a.dest: a for a in parser()._actions}
    for option in OPTIONS:
        action = actions[option.name]
        assert action.default == option.default and option_help(option) in action.help, option.name
    args = parser().parse_args([])
    assert study_from_args(args) == Study()  # no option given: the study's defaults
    given = parser().parse_args(["--profile", "smoke", "--replicates", "4", "--cpu-bf16", "--results", "R"])
    assert study_from_args(given) == Study(profile="smoke", replicates=4, cpu_bf16=True, results_dir="R")


def test_the_per_profile_default_is_written_from_the_profile_table():
    replicates = next(f for f in OPTIONS if f.name == "replicates")
    assert option_help(replicates).endswith("None: the profile's (smoke 2, mini 3, full 1)")
    assert isinstance(parser(), argparse.ArgumentParser)
