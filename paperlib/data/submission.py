"""The Visual Decathlon results file, written and checked.

The challenge's evaluation server takes one JSON list for the ten domains together,
``[{"image_id": ..., "category_id": ...}, ...]``, one entry per test image, with
category id = domain index * 10**7 + label + 1 (the ids of the annotation files). The challenge
released its test split without labels, so this file was the way to a test accuracy on the real
Decathlon; the authors have since released the labels (`labels.py`).

``check_submission`` validates such a file against the test split of a tree before it is sent:
every test image predicted exactly once, no id that is not a test image, every category id one of
the image's domain. Each problem is one line (per domain and kind, with a few example ids). Where
the tree's test split is labelled, it also scores the file: each domain's top-1 accuracy, what the
server would have said (an image without a prediction counts as wrong).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperlib.core.errors import DataError
from paperlib.core.files import write_bytes
from paperlib.data.decathlon import available_domains, read_file_split
from paperlib.data.domains import DOMAINS, ID_BASE, check_domains, domain_spec

EXAMPLES = 3  # ids quoted in one problem line


def submission_entries(image_ids, predicted_labels, domain: str) -> list[dict]:
    """[{"image_id", "category_id"}] with category_id = domain index * 10**7 + label + 1."""
    spec = domain_spec(domain)
    ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(predicted_labels, dtype=np.int64).reshape(-1)
    if ids.shape != labels.shape:
        raise ValueError(f"{len(ids)} image ids but {len(labels)} predicted labels")
    if len(labels) and labels.min() < 0:
        raise ValueError("predicted labels must be >= 0")
    return [{"image_id": int(i), "category_id": spec.id_prefix + int(lab) + 1}
            for i, lab in zip(ids.tolist(), labels.tolist())]


def write_submission(path: str | Path, predictions: Mapping[str, tuple]) -> Path:
    """Write the results file of {domain: (image ids, predicted labels)} atomically, the domains
    in Decathlon order (ids and labels: sequences, arrays or tensors, on any device).

    The server wants the ten domains in one file; a file with fewer is written all the same (a
    dry run, one domain), and ``check_submission`` says what is missing."""
    entries = []
    for domain in sorted(predictions, key=lambda d: domain_spec(d).index):
        ids, labels = predictions[domain]
        entries += submission_entries(_cpu(ids), _cpu(labels), domain)
    path = Path(path)
    write_bytes(path, json.dumps(entries).encode())
    return path


def read_submission(path: str | Path) -> list[tuple[int, int]]:
    """(image_id, category_id) pairs of a results file; DataError (one line) if it is not a JSON
    list of objects with integer "image_id" and "category_id"."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise DataError(f"submission {path} is unreadable ({err}): write it again with "
                        f"paperlib.data.submission.write_submission") from None
    if not isinstance(data, list):
        raise DataError(f"submission {path} is not a JSON list of {{\"image_id\", \"category_id\"}} objects")
    pairs, bad = [], []
    for k, entry in enumerate(data):
        ids = [entry.get(key) for key in ("image_id", "category_id")] if isinstance(entry, dict) else [None]
        if len(ids) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
            bad.append(k)
            continue
        pairs.append((ids[0], ids[1]))
    if bad:
        raise DataError(f"submission {path}: {len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} not "
                        f"{{\"image_id\": int, \"category_id\": int}} (first at position {bad[0]})")
    return pairs


@dataclass
class SubmissionReport:
    """What `check_submission` found: per-domain counts and one line per problem."""

    path: Path
    root: Path
    expected: dict[str, int] = field(default_factory=dict)  # domain -> test images
    predicted: dict[str, int] = field(default_factory=dict)  # domain -> entries for them
    accuracy: dict[str, float] = field(default_factory=dict)  # domain -> top-1 % where the test split is labelled
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        scored = bool(self.accuracy)
        lines = [f"{'domain':<14}{'test images':>12}{'predicted':>11}" + (f"{'top-1 %':>10}" if scored else "")]
        lines += [f"{d:<14}{n:>12}{self.predicted.get(d, 0):>11}"
                  + (f"{self.accuracy[d]:>10.2f}" if d in self.accuracy else f"{'–':>10}" if scored else "")
                  for d, n in self.expected.items()]
        if self.ok:
            lines.append(f"OK: {self.path} predicts every test image of {len(self.expected)} domain(s) once, "
                         f"with valid categories")
        else:
            lines.append(f"{len(self.problems)} problem(s) in {self.path}:")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def check_submission(path: str | Path, root: str | Path, domains=None) -> SubmissionReport:
    """Check a results file against the test split under ROOT (stripped or labelled; only the
    image ids and the categories are used). ``domains=None``: every domain of the tree, which the
    server requires. A bad file or tree raises DataError; everything else is a problem line."""
    domains = available_domains(root) if domains is None else check_domains(domains)
    report = SubmissionReport(path=Path(path), root=Path(root))
    pairs = read_submission(path)
    by_domain: dict[int, list[tuple[int, int]]] = {}
    for image_id, category_id in pairs:
        by_domain.setdefault(image_id // ID_BASE, []).append((image_id, category_id))
    for domain in domains:
        index = read_file_split(root, domain, "test")
        spec = domain_spec(domain)
        entries = by_domain.pop(spec.index, [])
        report.expected[domain], report.predicted[domain] = len(index), len(entries)
        _check_domain(report.problems, domain, set(index.image_ids.tolist()), entries,
                      range(spec.id_prefix + 1, spec.id_prefix + 1 + index.num_classes))
        if index.labelled and len(index):
            report.accuracy[domain] = _accuracy(index.image_ids, index.labels + spec.id_prefix + 1, entries)
    for prefix, entries in sorted(by_domain.items()):
        where = f"domain {DOMAINS[prefix - 1]}, not checked" if 1 <= prefix <= len(DOMAINS) else "no domain"
        report.problems.append(f"{len(entries)} image id(s) of {where} ({_examples(i for i, _ in entries)})")
    return report


def _check_domain(problems: list[str], domain: str, expected: set[int], entries: list[tuple[int, int]],
                  valid: range) -> None:
    counts = Counter(i for i, _ in entries)
    missing = sorted(expected - set(counts))
    unknown = sorted(set(counts) - expected)
    repeated = sorted(i for i, n in counts.items() if n > 1)
    invalid = [i for i, c in entries if c not in valid]
    if missing:
        problems.append(f"{domain}: {len(missing)} test image(s) without a prediction ({_examples(missing)})")
    if unknown:
        problems.append(f"{domain}: {len(unknown)} image id(s) that are not test images ({_examples(unknown)})")
    if repeated:
        problems.append(f"{domain}: {len(repeated)} image id(s) predicted more than once ({_examples(repeated)})")
    if invalid:
        problems.append(f"{domain}: {len(invalid)} prediction(s) with a category id outside "
                        f"{valid.start}..{valid.stop - 1} ({_examples(invalid)})")


def _accuracy(image_ids, category_ids, entries: list[tuple[int, int]]) -> float:
    """Top-1 % over every test image: an image's first prediction counts, a missing one is wrong."""
    truth = dict(zip(image_ids.tolist(), category_ids.tolist()))
    first: dict[int, int] = {}
    for image_id, category_id in entries:
        first.setdefault(image_id, category_id)
    return 100.0 * sum(first.get(i) == c for i, c in truth.items()) / len(truth)


def _examples(ids) -> str:
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:EXAMPLES])
    return f"e.g. {shown}" + (", ..." if len(ids) > EXAMPLES else "")


def _cpu(x):
    """Tensors (possibly on a GPU) to numpy, without importing torch here."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x
