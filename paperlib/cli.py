"""The `paperlib` command: a thin dispatcher; each sub-command's parser lives with its module."""

from __future__ import annotations

import importlib
import os
import sys

from paperlib import __version__

# sub-command -> module whose `main(argv)` handles it (imported lazily so `--help` is quick)
COMMANDS = {
    "data": ("paperlib.data.cli", "prepare, check, download the Visual Decathlon; generate the MiniDecathlon"),
    "train": ("paperlib.train.run", "run one training from a config (JSON) and store its record"),
    "reproduce": ("paperlib.series.reproduce", "run the notebook series with papermill for a profile"),
    "bench": ("paperlib.bench.main", "measure training / inference / data-pipeline speed"),
    "report": ("paperlib.report.cli", "import the evaluation server's test scores into the test table"),
    "export-base": ("paperlib.portable.base", "write the profile's pretrained network as one base file"),
    "adapt": ("paperlib.portable.adapt", "train a new domain's adapters from a folder of images, as one file"),
    "predict": ("paperlib.portable.predict", "classify images with a base file and adapter files"),
}


def _usage() -> str:
    lines = ["usage: paperlib [-h] [--version] COMMAND [ARGS...]", "", "commands:"]
    width = max(map(len, COMMANDS)) + 2
    lines += [f"  {name:<{width}} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "paperlib COMMAND --help: the command's options, each with its default."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch; a bad input or stored file (DataError, BadFileError) is one line on stderr and exit
    status 2, never a traceback; a closed pipe (`paperlib -h | head -1`) ends quietly."""
    try:
        status = _dispatch(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
        return status
    except BrokenPipeError:
        # the reader went away: point stdout at /dev/null so the final flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:
        # DataError and BadFileError: a one-line message. Their module is loaded by whatever raised
        # one, and not imported here up front (it pulls in torch; `paperlib -h` stays instant).
        errors = sys.modules.get("paperlib.core.errors")
        if errors is None or not isinstance(err, errors.DataError):
            raise
        print(f"paperlib: {err}", file=sys.stderr)
        return 2


def _dispatch(argv: list[str]) -> int:
    if not argv:  # no command: the usage on stderr and a usage error's status, as argparse does
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"paperlib {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"paperlib: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
