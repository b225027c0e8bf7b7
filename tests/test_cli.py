"""The top-level command: --version, a closed pipe ends quietly, a bad file is one line."""

from __future__ import annotations

import os
import subprocess
import sys

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
