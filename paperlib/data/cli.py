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

DOMAIN_CHOICES = f"one or more of {', '.join(DOMAINS)}"


def parser() -> argparse.ArgumentParser:
    """The sub-commands of `paperlib data` and their options, each with its default."""
    p = argparse.ArgumentParser(prog="paperlib data", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=description)

    s = command("prepare", "decode every image once into a .npy cache",
                "Decode every image of a decathlon-1.0 tree once into a cache of .npy arrays (one per domain "
                "and split, with a manifest); entries already up to date are kept.")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")
    s.add_argument("--cache", required=True, help="cache folder")
    s.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN",
                   help=f"{DOMAIN_CHOICES} (default: every domain found)")
    s.add_argument("--splits", nargs="+", default=["train", "val", "test"],
                   choices=["train", "val", "trainval", "test"], help="the splits to decode (default: train val test)")
    s.add_argument("--size", type=int, default=72,
                   help="side of the stored square (default: %(default)s, the paper's; the series uses its "
                        "profile's image size)")
    s.add_argument("--workers", type=int, default=None, help="decoding threads (default: one per core)")
    s.add_argument("--force", action="store_true", help="rebuild even if up to date")

    s = command("check", "validate a decathlon-1.0 tree",
                "Validate a decathlon-1.0 tree: counts and classes per domain and split, every image "
                "decoded, and every problem found; with --cache, a prepared cache against its manifests. "
                "Exit status 1 when there is a problem.")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")
    s.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN",
                   help=f"{DOMAIN_CHOICES} (default: every domain found)")
    s.add_argument("--no-decode", action="store_true", help="only check that files exist")
    s.add_argument("--cache", help="also check this prepared cache against its manifests (default: no cache)")

    s = command("download", "fetch the Decathlon (or print how to)",
                "Fetch the Visual Decathlon's devkit and data into ROOT/decathlon-1.0, and print the manual "
                "steps where it cannot (ImageNet needs a login).")
    s.add_argument("--root", required=True, help="folder to hold decathlon-1.0/")

    s = command("labels", "place the test labels (the authors' labels_test.zip) in a tree",
                "Place the authors' test labels, ten <domain>_test.json, in ROOT/decathlon-1.0/annotations/, "
                "each only if it covers exactly the images of the released stripped file.")
    s.add_argument("file", nargs="?", help=f"the archive (default: download it from {LABELS_URL})")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")

    s = command("mini", "write the MiniDecathlon",
                "Generate the MiniDecathlon, ten procedural domains in the decathlon-1.0 layout, into "
                "OUT/decathlon-1.0 (data/README.md is its data sheet). The same parameters give the same "
                "tree; an existing tree of other parameters is never replaced.")
    s.add_argument("--out", required=True, help="folder to hold decathlon-1.0/")
    s.add_argument("--seed", type=int, default=0, help="every class design and image derives from it "
                                                      "(default: %(default)s)")
    s.add_argument("--size", type=int, default=36, help="shorter side of the images (default: %(default)s)")
    s.add_argument("--scale", type=float, default=1.0, help="multiply the images per class (default: %(default)s)")
    s.add_argument("--force", action="store_true", help="regenerate even if up to date")

    s = command("samples", "draw a sample sheet (PNG) of a tree",
                "Draw eight training images of every domain found under ROOT/decathlon-1.0 into a PNG.")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/")
    s.add_argument("--out", required=True, help="the PNG to write")

    s = command("check-submission", "validate a results file for the evaluation server",
                "Validate a results file for the Visual Decathlon's evaluation server against the test split "
                "of a tree: every test image predicted exactly once, no other id, every category one of the "
                "image's domain. Exit status 1 when there is a problem.")
    s.add_argument("file", help="the results JSON (a list of {image_id, category_id})")
    s.add_argument("--root", required=True, help="folder holding decathlon-1.0/ (its test split)")
    s.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN",
                   help=f"{DOMAIN_CHOICES} (default: every domain found; the server needs ten)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
