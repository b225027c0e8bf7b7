"""The Visual Decathlon score (paper sec. 4.1 and Table 1; defined in [23]; docs/authors_code.md, "Decathlon score").

    S = sum_d alpha_d * max(0, Emax_d - E_d)^2,  alpha_d = 1000 / Emax_d^2,
    Emax_d = 2 x the baseline's test error (%), so each domain scores at most 1000.

Pure functions of mappings and data frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import pandas as pd

DOMAIN_ORDER = ("imagenet12", "aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb",
                "vgg-flowers", "omniglot", "svhn", "ucf101")  # Table 1's column order

# Table 1's column headers -> Decathlon domain names
PAPER_COLUMNS = MappingProxyType({
    "ImNet": "imagenet12", "Airc": "aircraft", "C100": "cifar100", "DPed": "daimlerpedcls", "DTD": "dtd",
    "GTSR": "gtsrb", "Flwr": "vgg-flowers", "OGlt": "omniglot", "SVHN": "svhn", "UCF": "ucf101",
})

# Top-1 test accuracy (%) of the baseline that fixes Emax (docs/authors_code.md, "Decathlon score")
BASELINE_ACCURACY = MappingProxyType({
    "imagenet12": 59.87, "aircraft": 60.34, "cifar100": 82.12, "daimlerpedcls": 92.82, "dtd": 55.53,
    "gtsrb": 97.53, "vgg-flowers": 81.41, "omniglot": 87.69, "svhn": 96.55, "ucf101": 51.20,
})


def domain_score(accuracy: float, baseline_accuracy: float) -> float:
    """One domain's share of S, in [0, 1000]; accuracies in percent."""
    if not 0.0 <= accuracy <= 100.0:
        raise ValueError(f"accuracy must be a percentage in [0, 100], got {accuracy}")
    e_max = 2.0 * (100.0 - baseline_accuracy)
    error = 100.0 - accuracy
    return 1000.0 / e_max**2 * max(0.0, e_max - error) ** 2


def decathlon_scores(accuracies: Mapping[str, float],
                     baseline: Mapping[str, float] = BASELINE_ACCURACY) -> dict[str, float]:
    """Per-domain scores for the domains given (names as in `baseline`)."""
    unknown = sorted(set(accuracies) - set(baseline))
    if unknown:
        raise KeyError(f"no baseline for {unknown}; known domains: {', '.join(sorted(baseline))}")
    return {d: domain_score(float(a), baseline[d]) for d, a in accuracies.items()}


def decathlon_score(accuracies: Mapping[str, float], baseline: Mapping[str, float] = BASELINE_ACCURACY) -> float:
    """S: the sum of the per-domain scores."""
    return sum(decathlon_scores(accuracies, baseline).values())


def paper_table1() -> pd.DataFrame:
    """Table 1 of the paper as printed (accuracies in %, "#par" as params_x, mean and S)."""
    with resources.files("paperlib.report").joinpath("table1_paper.csv").open() as f:
        return pd.read_csv(f)


def score_table(table: pd.DataFrame, columns: Mapping[str, str] = PAPER_COLUMNS) -> pd.DataFrame:
    """Add `mean_computed` and `S_computed` to a table with one accuracy column per domain."""
    out = table.copy()
    accs = out[list(columns)].rename(columns=dict(columns))
    out["mean_computed"] = accs.mean(axis=1)
    out["S_computed"] = [decathlon_score(row.to_dict()) for _, row in accs.iterrows()]
    return out
