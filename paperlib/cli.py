"""The `paperlib` command: a thin dispatcher; each sub-command's parser lives with its module."""

from __future__ import annotations

import importlib
import sys

# sub-command -> module whose `main(argv)` handles it (imported lazily so `--help` is quick)
COMMANDS = {
    "data": ("paperlib.data.cli", "prepare, check, download the Visual Decathlon; generate the MiniDecathlon"),
    "train": ("paperlib.train", "run one training from a config (JSON) and store its record"),
    "reproduce": ("paperlib.reproduce", "run the notebook series with papermill for a profile"),
    "bench": ("paperlib.bench", "measure training / inference / data-pipeline speed"),
    "export-base": ("paperlib.basefile", "write the profile's pretrained network as one base file"),
    "adapt": ("paperlib.adapt", "train a new domain's adapters from a folder of images, as one file"),
    "predict": ("paperlib.predict", "classify images with a base file and adapter files"),
}


def _usage() -> str:
    lines = ["usage: paperlib COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"paperlib: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
