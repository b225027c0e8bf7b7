"""Notebook parameters: each notebook's `parameters` cell, validated into a frozen dataclass.

A notebook's setup cell records `_setup = set(globals())`; its `parameters` cell (which
papermill overrides) assigns plain literals; the next cell calls
`Params.from_globals(globals(), _setup)`, which rejects any name that is not a field (a
mistyped `papermill -p` is an error here, not papermill's silent warning) and any value of the
wrong type. Values derived from the parameters are computed after it, never in the cell itself.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import matches_type
from .experiments import Study

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


@dataclass(frozen=True)
class Params:
    """What every notebook takes."""

    profile: str = "mini"  # smoke | mini | full
    data_root: str | None = None  # holds decathlon-1.0/; None: data/<profile>
    results_dir: str = "results"  # the results store
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    dry_run: bool = False  # full profile's settings, a few steps per training

    @classmethod
    def from_globals(cls, namespace: Mapping[str, Any], setup: set[str]):
        """The parameters the notebook defined after its setup cell, validated."""
        given = {k: v for k, v in namespace.items()
                 if k not in setup and not k.startswith("_") and k not in _IPYTHON_NAMES
                 and not isinstance(v, types.ModuleType)}
        return cls.from_dict(given)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {', '.join(fields)}")
        hints = typing.get_type_hints(cls)
        clean = {}
        for name, value in values.items():
            if isinstance(value, list):
                value = tuple(value)
            if not matches_type(value, hints[name]):
                raise TypeError(f"parameter {name} must be {hints[name]}, got {value!r}".replace("typing.", ""))
            clean[name] = value
        return cls(**clean)

    @property
    def study(self) -> Study:
        return Study(profile=self.profile, data_root=self.data_root, results_dir=self.results_dir,
                     device=self.device, seed=self.seed, dry_run=self.dry_run)


@dataclass(frozen=True)
class DataParams(Params):
    samples_per_domain: int = 8  # images per domain in the sample grid


@dataclass(frozen=True)
class PretrainParams(Params):
    width_factors: tuple[float, ...] | None = None  # Figure 4a widths x the profile's; None: profile's
    class_fractions: tuple[float, ...] | None = None  # Figure 4b source-class fractions; None: profile's


@dataclass(frozen=True)
class SeriesParallelParams(Params):
    targets: tuple[str, ...] | None = None  # target domains; None: the nine of the Decathlon


@dataclass(frozen=True)
class PlacementParams(Params):
    targets: tuple[str, ...] | None = None
    placements: tuple[str, ...] = ("early", "mid", "late", "half")  # Table 1's placement rows


@dataclass(frozen=True)
class RegularizationParams(Params):
    targets: tuple[str, ...] | None = None
    uniform_decay: float | None = None  # one adapter decay for all; None: the profile's (0.0005)
    width_factors: tuple[float, ...] | None = None
    dropout: float = 0.5  # dropout2d before the second adapter of each block (sec. 4.1)
    few_fraction: float | None = None  # "few images per class" as a fraction of the train set


@dataclass(frozen=True)
class SVDParams(Params):
    targets: tuple[str, ...] | None = None
    svd_rank: float | None = None  # K: None -> C/2 (the paper); a float -> that fraction of C


@dataclass(frozen=True)
class TransferParams(Params):
    transfer_domains: tuple[str, ...] | None = None  # small, medium, large; None: the profile's
    fractions: tuple[float, ...] | None = None  # of the training data; None: the profile's
    methods: tuple[str, ...] = ("finetune", "series", "parallel")


@dataclass(frozen=True)
class ClassesParams(Params):
    class_fractions: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ReportParams(Params):
    paper_points: bool = True  # draw the paper's reference values in Figure 4
    write_figures: bool = True  # figures/table1_<profile>.* and figures/fig4_<profile>.*


@dataclass(frozen=True)
class OwnDomainParams(Params):
    images_from: str = "dtd"  # the MiniDecathlon domain whose images play "your own" folder
    num_classes: int = 5  # classes of it put in the folder (the first with two images or more)
    adapter: str = "parallel"  # parallel | series
    adapt_epochs: int | None = None  # None: the profile's adaptation epochs
    work_dir: str = "runs/own_domain"  # the folder, the base file and the adapter file go under <work_dir>/<profile>
