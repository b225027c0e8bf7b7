"""The Decathlon results file (REFERENCE.md: a JSON list of {"image_id", "category_id"})."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import atomic
from .domains import domain_spec


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


def write_submission(path: str | Path, image_ids, predicted_labels, domain: str) -> None:
    """Write one domain's results JSON atomically (ids and labels: sequences, arrays or tensors).

    The challenge server takes the ten domains in one list: concatenate the entries of
    ``submission_entries`` for each domain to build that file.
    """
    entries = submission_entries(_cpu(image_ids), _cpu(predicted_labels), domain)
    atomic.write_bytes(path, json.dumps(entries).encode())


def _cpu(x):
    """Tensors (possibly on a GPU) to numpy, without importing torch here."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x
