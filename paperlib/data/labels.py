"""The Decathlon's test labels, from the archive the authors released: placed and checked.

The challenge released its test split stripped of labels (``<domain>_test_stripped.json``); the
authors' repository (residual_adapters, branch master) has since held ``labels_test.zip``: ten
COCO-style ``<domain>_test.json``, one label for every test image. `place_labels` puts each in
``ROOT/decathlon-1.0/annotations`` once it covers exactly the images of the tree's stripped file
(`decathlon.test_labels_problems`); a file that fails is not placed, and its problems are named.
With the labels in place, the reader takes the labelled file (`decathlon.annotation_path`) and
the full profile computes Table 1 on the test split itself.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from paperlib.core.errors import DataError
from paperlib.core.files import write_bytes
from paperlib.data.decathlon import labelled_test_name, test_labels_problems, tree_dir
from paperlib.data.domains import DOMAINS

LABELS_URL = "https://raw.githubusercontent.com/srebuffi/residual_adapters/master/labels_test.zip"


def labels_step(root: Path) -> str:
    """The manual step that places the labels, as the download prints it."""
    return (f"download {LABELS_URL}\n     and place it: paperlib data labels labels_test.zip --root {root}")


@dataclass
class LabelsReport:
    """What `place_labels` did: the files placed, and one line per file it did not place."""

    archive: Path
    placed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"placed {p}" for p in self.placed]
        lines += [f"not placed: {p}" for p in self.problems]
        lines.append(f"{len(self.placed)} labelled test file(s) placed from {self.archive}"
                     + ("" if self.ok else f", {len(self.problems)} refused"))
        return "\n".join(lines)


def archive_members(archive: str | Path) -> dict[str, bytes]:
    """{domain: the bytes of its <domain>_test.json} of a labels archive (a zip; the files at its
    top or in one folder). A file that is not a zip is a DataError naming it."""
    archive = Path(archive)
    by_name = {labelled_test_name(d): d for d in DOMAINS}
    try:
        with zipfile.ZipFile(archive) as z:
            return {by_name[PurePosixPath(info.filename).name]: z.read(info) for info in z.infolist()
                    if not info.is_dir() and PurePosixPath(info.filename).name in by_name}
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(f"labels archive {archive} is unreadable ({err}): download it again") from None


def place_labels(archive: str | Path, root: str | Path) -> LabelsReport:
    """Place every <domain>_test.json of `archive` in ROOT/decathlon-1.0/annotations (atomically,
    replacing one there) that the tree's stripped test file of that domain vouches for; a file
    that fails the check, or a domain the tree lacks, is a problem line and is not placed."""
    folder = tree_dir(root) / "annotations"
    report = LabelsReport(archive=Path(archive))
    members = archive_members(archive)
    if not members:
        report.problems.append(f"{archive} holds no <domain>_test.json of the Decathlon's domains")
    for domain, data in members.items():
        name = labelled_test_name(domain)
        if not (folder / f"{domain}_test_stripped.json").is_file():
            report.problems.append(f"{name}: the tree has no {domain}_test_stripped.json to check it against")
            continue
        try:
            labelled = json.loads(data)
        except ValueError as err:
            report.problems.append(f"{archive}:{name} is not JSON ({err})")
            continue
        try:
            problems = test_labels_problems(root, domain, labelled if isinstance(labelled, dict) else {})
        except DataError as err:  # the tree's own stripped or train file is broken
            problems = [str(err)]
        if problems:
            report.problems.append(f"{archive}:{name}: " + "; ".join(problems))
            continue
        write_bytes(folder / name, data)
        report.placed.append(folder / name)
    return report


__all__ = ["LABELS_URL", "LabelsReport", "archive_members", "labels_step", "place_labels"]
