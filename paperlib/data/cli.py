"""`paperlib data ...`: prepare, check, download, labels, mini, samples, check-submission.

Exit status: 0 on success, 1 when `check` or `check-submission` finds problems, `download` fails
or `labels` places not every file, 2 on bad input
(a DataError: its one-line message is printed to stderr).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from paperlib.core.errors import DataError
from paperlib.data.cache import PrepareError, prepare
from paperlib.data.check import check
from paperlib.data.domains import DOMAINS
from paperlib.data.download import download, download_labels
from paperlib.data.labels import LABELS_URL, place_labels
from paperlib.data.mini.generate import generate_mini
from paperlib.data.samples import plot_mini_samples
from paperlib.data.submission import check_submission


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paperlib data", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("prepare", help="decode every image once into a .npy cache")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")
    s.add_argument("--cache", required=True, help="cache folder")
    s.add_argument("--domains", nargs="+", choices=DOMAINS, help="default: all found")
    s.add_argument("--splits", nargs="+", default=["train", "val", "test"],
                   choices=["train", "val", "trainval", "test"])
    s.add_argument("--size", type=int, default=72, help="side of the stored square (72; mini: 36)")
    s.add_argument("--workers", type=int, default=None, help="decoding threads (default: cores)")
    s.add_argument("--force", action="store_true", help="rebuild even if up to date")

    s = sub.add_parser("check", help="validate a decathlon-1.0 tree")
    s.add_argument("--root", required=True)
    s.add_argument("--domains", nargs="+", choices=DOMAINS)
    s.add_argument("--no-decode", action="store_true", help="only check that files exist")
    s.add_argument("--cache", help="also check this prepared cache against its manifests")

    s = sub.add_parser("download", help="fetch the Decathlon (or print how to)")
    s.add_argument("--root", required=True)

    s = sub.add_parser("labels", help="place the test labels (the authors' labels_test.zip) in a tree")
    s.add_argument("file", nargs="?", help=f"the archive; none: download it from {LABELS_URL}")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")

    s = sub.add_parser("mini", help="write the MiniDecathlon")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=36, help="shorter side of the images")
    s.add_argument("--scale", type=float, default=1.0, help="multiply the images per class")
    s.add_argument("--force", action="store_true", help="regenerate even if up to date")

    s = sub.add_parser("samples", help="draw a sample sheet (PNG) of a tree")
    s.add_argument("--root", required=True)
    s.add_argument("--out", required=True)

    s = sub.add_parser("check-submission", help="validate a results file for the evaluation server")
    s.add_argument("file", help="the results JSON (a list of {image_id, category_id})")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/ (its test split)")
    s.add_argument("--domains", nargs="+", choices=DOMAINS, help="default: all found (the server needs ten)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "prepare":
            with warnings.catch_warnings(record=True) as notes:  # rebuilt entries, skipped images
                warnings.simplefilter("always")
                try:
                    manifests, problems = prepare(args.root, args.cache, args.domains, args.splits, args.size,
                                                  workers=args.workers, force=args.force), []
                except PrepareError as err:  # every other split was prepared: show them, then each problem
                    manifests, problems = err.manifests, err.problems
            for note in notes:
                print(f"paperlib data: {note.message}", file=sys.stderr)
            for m in manifests:
                print(f"{m['domain']:<14}{m['split']:<6}{m['count']:>8} images  {m['num_classes']:>5} classes"
                      f"{'  ' + str(len(m['skipped'])) + ' skipped' if m['skipped'] else ''}")
            for problem in problems:
                print(f"paperlib data: {problem}", file=sys.stderr)
            return 2 if problems else 0
        if args.command == "check":
            report = check(args.root, args.domains, decode=not args.no_decode, cache_dir=args.cache)
            print(report.format())
            return 0 if report.ok else 1
        if args.command == "download":
            return download(args.root)
        if args.command == "labels":
            if args.file is None:
                return download_labels(args.root)
            report = place_labels(args.file, args.root)
            print(report.format(), file=sys.stdout if report.ok else sys.stderr)
            return 0 if report.ok else 1
        if args.command == "mini":
            generate_mini(args.out, seed=args.seed, size=args.size, scale=args.scale, force=args.force)
            print(f"MiniDecathlon in {args.out}/decathlon-1.0")
            return 0
        if args.command == "samples":
            print(plot_mini_samples(args.root, args.out))
            return 0
        if args.command == "check-submission":
            report = check_submission(args.file, args.root, args.domains)
            print(report.format())
            return 0 if report.ok else 1
    except DataError as err:
        print(f"paperlib data: {err}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
