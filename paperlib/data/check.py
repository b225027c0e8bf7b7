"""Validate a decathlon-1.0 tree: counts and classes per domain and split, and every problem.

Problems: a missing annotation file, a malformed one (shown as "unreadable" in the table) or one
with category ids outside its domain (category id = domain index * 10**7 + class), a listed image
that is missing or that PIL cannot decode, and a labelled test file (the authors' labels archive)
that does not cover exactly the images of the released stripped one, each mismatch named with its
file (`decathlon.test_labels_problems`): such a file is rejected, the split read stripped. Images
are decoded with the same function as ``prepare``, so a tree that checks clean prepares without
skipping anything. Given a cache folder, every prepared entry is also checked against its
manifest (array sizes and checksums).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from paperlib.core.errors import DataError
from paperlib.core.files import read_json
from paperlib.data.cache import entry_dir, entry_problems
from paperlib.data.decathlon import (
    FILE_SPLITS,
    TREE,
    annotation_path,
    labelled_test_name,
    read_file_split,
    test_labels_problems,
    tree_dir,
)
from paperlib.data.domains import DOMAINS, check_domains
from paperlib.data.images import try_decode

PROBE_SIZE = 8  # decode at a tiny size: JPEG draft mode makes the check fast, truncation still shows


@dataclass
class SplitReport:
    domain: str
    split: str
    annotation: str  # file name, "" when missing
    unreadable_annotation: bool = False  # present but malformed
    images: int = 0
    labelled: bool = False
    classes: int = 0
    missing: int = 0
    unreadable: int = 0
    rejected: str = ""  # a labelled test file that failed its check (the stripped one was read)


@dataclass
class CheckReport:
    root: Path
    splits: list[SplitReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self, max_problems: int = 30) -> str:
        lines = [f"{'domain':<14}{'split':<7}{'images':>8}{'classes':>9}{'missing':>9}"
                 f"{'unreadable':>12}  annotation"]
        for s in self.splits:
            note = s.annotation or "(missing)"
            if s.unreadable_annotation:
                note += " (unreadable)"
            elif s.annotation and not s.labelled:
                note += f" (unlabelled; {s.rejected} rejected)" if s.rejected else " (unlabelled)"
            lines.append(f"{s.domain:<14}{s.split:<7}{s.images:>8}{s.classes:>9}{s.missing:>9}"
                         f"{s.unreadable:>12}  {note}")
        tests = [s for s in self.splits if s.split == "test" and s.annotation]
        if tests:
            labelled = sum(s.labelled for s in tests)
            lines.append(f"test labels for {labelled} of {len(tests)} domain(s): " + (
                "test accuracies are computed locally" if labelled == len(tests) else
                f"the full profile's Table 1 on test needs all; `paperlib data labels --root {self.root}` "
                "fetches the authors' labels_test.zip"))
        if self.ok:
            lines.append(f"OK: {self.root / TREE} has no problems")
        else:
            lines.append(f"{len(self.problems)} problem(s) in {self.root / TREE}:")
            lines += [f"  {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                lines.append(f"  ... and {len(self.problems) - max_problems} more")
        return "\n".join(lines)


def _present_domains(tree: Path) -> tuple[str, ...]:
    folder = tree / "annotations"
    return tuple(d for d in DOMAINS if any(folder.glob(f"{d}_*.json")))


def _check_images(report: CheckReport, row: SplitReport, index, pool) -> None:
    paths = [index.path(i) for i in range(len(index))]
    exists = [p.is_file() for p in paths]
    for name, ok in zip(index.file_names, exists):
        if not ok:
            row.missing += 1
            report.problems.append(f"{row.domain}/{row.split}: missing image {name}")
    todo = [(n, p) for n, p, ok in zip(index.file_names, paths, exists) if ok]
    probe = [p for _, p in todo]
    results = (pool.map(try_decode, probe, [PROBE_SIZE] * len(probe)) if pool
               else (try_decode(p, PROBE_SIZE) for p in probe))
    bar = tqdm(results, total=len(todo), desc=f"check {row.domain}/{row.split}", disable=None,
               leave=False)
    for (name, _), (array, reason) in zip(todo, bar):
        if array is None:
            row.unreadable += 1
            report.problems.append(f"{row.domain}/{row.split}: unreadable image {name} ({reason})")


def _rejected_test_labels(report: CheckReport, root, domain: str) -> str:
    """The name of the domain's labelled test file where it fails its check against the stripped
    one (each problem added, named with the file), else ""."""
    path = tree_dir(root) / "annotations" / labelled_test_name(domain)
    if not path.is_file():
        return ""
    try:
        problems = test_labels_problems(root, domain)
    except DataError:  # the stripped or train file itself is broken: reading the split reports it
        return ""
    report.problems += [f"{domain}/test: {path}: {p}" for p in problems]
    return path.name if problems else ""


def _present_annotation(root, domain: str, split: str) -> str:
    """The name of the split's annotation file if it exists (however broken), else ""."""
    try:
        return annotation_path(root, domain, split).name
    except DataError:
        return ""


def check_cache(report: CheckReport, cache_dir: str | Path, domains) -> None:
    """Add a problem for every prepared entry whose manifest or arrays no longer match."""
    for domain in domains:
        for split in FILE_SPLITS:
            manifest = entry_dir(cache_dir, domain, split) / "manifest.json"
            if not manifest.is_file():
                continue
            try:
                problems = entry_problems(manifest.parent, read_json(manifest))
            except ValueError:
                problems = [f"{manifest}: unreadable"]
            report.problems += [f"cache {domain}/{split}: {p} (`paperlib data prepare` rebuilds it)"
                                for p in problems]


def check(root: str | Path, domains=None, *, decode: bool = True,
          workers: int | None = None, cache_dir: str | Path | None = None) -> CheckReport:
    """Check the tree under ROOT; ``domains=None`` checks every domain with an annotation file.
    With ``cache_dir``, the prepared entries of those domains are checked as well.

    A missing ROOT/decathlon-1.0 raises DataError; everything else is a problem in the report.
    """
    tree = tree_dir(root)
    domains = _present_domains(tree) if domains is None else check_domains(domains)
    report = CheckReport(root=Path(root))
    if not domains:
        report.problems.append(f"no annotation files in {tree / 'annotations'} "
                               f"(expected <domain>_train.json, _val.json, _test_stripped.json)")
        return report
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    pool = ThreadPoolExecutor(workers) if decode and workers > 1 else None
    try:
        for domain in domains:
            classes = {}
            for split in FILE_SPLITS:
                row = SplitReport(domain, split, "")
                report.splits.append(row)
                if split == "test":
                    row.rejected = _rejected_test_labels(report, root, domain)
                try:
                    index = read_file_split(root, domain, split, test_labels=not row.rejected)
                except DataError as err:
                    report.problems.append(f"{domain}/{split}: {err}")
                    row.annotation = _present_annotation(root, domain, split)
                    row.unreadable_annotation = bool(row.annotation)
                    continue
                row.annotation = index.annotation_files[0].name
                row.images, row.labelled, row.classes = len(index), index.labelled, index.num_classes
                classes[split] = index.class_names
                if decode:
                    _check_images(report, row, index, pool)
            if len(set(classes.values())) > 1:
                report.problems.append(f"{domain}: the splits list different categories "
                                       f"({', '.join(f'{s} {len(c)}' for s, c in classes.items())})")
    finally:
        if pool:
            pool.shutdown()
    if cache_dir is not None:
        check_cache(report, cache_dir, domains)
    return report
