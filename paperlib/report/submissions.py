"""One results file for the evaluation server per Table 1 row, from the stored test predictions.

The Decathlon's test labels are not released: the test accuracy of a row (nine target domains
and ImageNet) comes from the challenge's server, which takes the predictions of all ten domains in
one file. Every training stores its predicted labels per eval split next to its record
(`ResultStore.save_predictions`); a row is the list of trainings that predict its domains (the
nine adapted networks and the pretrained one for ImageNet), and `write_row_submissions` gathers
their test predictions into `runs/<profile>/submissions/<row>.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from paperlib.core.errors import DataError
from paperlib.data.submission import write_submission
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore


def submission_name(row: str) -> str:
    """The file name of a row's results file: "Parallel (early)" -> "parallel-early.json"."""
    slug = re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-")
    if not slug:
        raise ValueError(f"row name {row!r} has no letters or digits to name a file after")
    return f"{slug}.json"


def row_predictions(store: ResultStore, configs: Iterable[TrainConfig], split: str = "test") -> dict[str, tuple]:
    """{domain: (image ids, predicted labels)} on `split` of every domain the configs train.

    A training that is not stored or did not evaluate `split`, or two trainings predicting the
    same domain, raise DataError naming the run and what to do."""
    out: dict[str, tuple] = {}
    for config in configs:
        path = store.predictions_path(config)
        if not path.is_file():
            raise DataError(f"no stored predictions {path} for run {config.run_id} ({config.method} on "
                            f"{'+'.join(config.domains)}): run the training first")
        stored = store.load_predictions(config)
        for domain in config.domains:
            if split not in stored.get(domain, {}):
                raise DataError(f"run {config.run_id} ({config.method} on {domain}) has no {split} predictions "
                                f"in {path}: its eval_splits must include {split!r}")
            if domain in out:
                raise DataError(f"two runs of the row predict {domain} (the second is {config.run_id})")
            out[domain] = stored[domain][split]
    return out


def write_row_submissions(store: ResultStore, rows: Mapping[str, Sequence[TrainConfig]], out_dir: str | Path,
                          split: str = "test") -> dict[str, Path]:
    """Write one results file per row ({row: the trainings that predict its domains}) under
    `out_dir`; returns {row: path}."""
    out_dir = Path(out_dir)
    return {row: write_submission(out_dir / submission_name(row), row_predictions(store, configs, split))
            for row, configs in rows.items()}


def check_command(path: str | Path, root: str | Path) -> str:
    """The command that checks a results file before it is sent to the server."""
    return f"paperlib data check-submission {path} --root {root}"
