"""The top-level command: --version, a closed pipe ends quietly, a bad file is one line, no
command is a usage error; every sub-command's options explain themselves."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

import pytest

from paperlib import __version__
from paperlib.cli import COMMANDS, main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"paperlib {__version__}"


def test_closed_pipe_ends_quietly():
    # `paperlib -h | head -0`: the reader is gone before anything is written
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, "-m", "paperlib.cli", "-h"], stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    os.close(write)
    assert proc.stderr == "" and proc.returncode == 1


def test_data_error_is_one_line_without_traceback(tmp_path, capsys):
    from paperlib.core.errors import BadFileError

    def broken(argv):
        raise BadFileError(tmp_path / "x.json", "not valid JSON", "delete it and rerun")

    COMMANDS["broken"] = ("tests_fake", "")
    sys.modules["tests_fake"] = type(sys)("tests_fake")
    sys.modules["tests_fake"].main = broken
    try:
        assert main(["broken"]) == 2
    finally:
        del COMMANDS["broken"], sys.modules["tests_fake"]
    err = capsys.readouterr().err
    assert err == f"paperlib: {tmp_path / 'x.json'}: not valid JSON; delete it and rerun\n"


def test_no_command_prints_the_usage_and_exits_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: paperlib") and all(name in err for name in COMMANDS)
    for flag in ("-h", "--help"):
        assert main([flag]) == 0
        out, err = capsys.readouterr()
        assert out.startswith("usage: paperlib") and err == ""


def _parsers(parser: argparse.ArgumentParser):
    """The parser and, recursively, every sub-command's."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _shown_default(action: argparse.Action) -> bool:
    """Whether an option must show a default: it takes a value and may be left out."""
    return bool(action.option_strings) and not action.required and action.nargs != 0


WALKED = list(COMMANDS)


@pytest.mark.parametrize("name", WALKED)
def test_every_option_has_a_help_text_showing_its_default(name):
    """Each command's `parser()`: every parser has a description, every argument a help text,
    every option that takes a value and may be left out says its default in its help, and a
    default that is a value (not None) is spelled there. Flags (store_true) default to off."""
    top = importlib.import_module(COMMANDS[name][0]).parser()
    for parser in _parsers(top):
        assert parser.description, parser.prog
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            where = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help != argparse.SUPPRESS, where
            text = formatter._expand_help(action)
            if _shown_default(action):
                assert "(default: " in text or "; default: " in text, (where, text)
                values = action.default if isinstance(action.default, (list, tuple)) else [action.default]
                assert all(str(v) in text for v in values if v is not None), (where, text)
        assert parser.format_help()  # every %(default)s expands


def test_data_sub_commands_have_descriptions():
    sub = next(a for a in importlib.import_module("paperlib.data.cli").parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    assert {"mini", "check"} <= set(sub.choices)
    assert all(len(p.description) > 40 for p in sub.choices.values())
