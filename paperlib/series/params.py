"""Notebook parameters: one frozen dataclass per notebook is the single source of its
`parameters` cell (generated from it by `parameters_cell`) and validates what papermill passes.

A notebook's setup cell records `_setup = set(globals())`; its `parameters` cell (which
papermill overrides) assigns plain literals; the next cell calls
`Params.from_globals(globals(), _setup)`, which rejects any name that is not a field (a
mistyped `papermill -p` is an error here, not papermill's silent warning) and any value of the
wrong type. Values derived from the parameters are computed after it, never in the cell itself.
To add or change a parameter, edit the dataclass and regenerate the cells
(`paperlib reproduce --write-parameter-cells`); a test checks that they agree.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paperlib.core.strict import matches_type
from paperlib.series.study import Study
from paperlib.train.spec import check_svd_rank

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def param(default: Any, help: str, *, expr: str | None = None) -> Any:
    """A parameter: its default, the comment its cell line carries, and (rarely) the expression
    the cell assigns instead of the literal default."""
    return field(default=default, metadata={"help": help, "expr": expr})


@dataclass(frozen=True)
class Params:
    """What every notebook takes."""

    profile: str = param("mini", "smoke | mini | full (CI sets smoke)",
                         expr='os.environ.get("PAPERLIB_PROFILE", "mini")')
    data_root: str | None = param(None, "folder holding decathlon-1.0/; None: the profile's, in the project")
    results_dir: str | None = param(None, "the results store (None: results/ in the project); stored runs are loaded")
    device: str = param("auto", "auto | cpu | cuda")
    seed: int = param(0, "seeds the data and the source networks; the adaptations train with seed, seed + 1, ...")
    dry_run: bool = param(False, "the profile's settings but a few steps per training (checks a code path)")
    seeds: int | None = param(None, "seeds of every adaptation; None: the profile's (smoke 2, mini 3, full 1)")
    cpu_bf16: bool | None = param(None, "bf16 autocast on the CPU; None: the profile's (float32 at every profile)")
    workers: int | None = param(None, "trainings side by side; None: from the machine's cores, memory and GPUs")
    runs_per_gpu: int = param(1, "trainings sharing one GPU")

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
                     device=self.device, seed=self.seed, dry_run=self.dry_run, seeds=self.seeds,
                     cpu_bf16=self.cpu_bf16, workers=self.workers, runs_per_gpu=self.runs_per_gpu)


def parameters_cell(cls: type[Params]) -> str:
    """The source of the notebook's `parameters` cell, generated from `cls`: one line per field,
    `name = default  # help`."""
    lines = []
    for f in dataclasses.fields(cls):
        value = f.metadata.get("expr") or _literal(f.default)
        lines.append(f"{f.name} = {value}  # {f.metadata['help']}" if f.metadata.get("help") else f"{f.name} = {value}")
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """Python source of a default (strings in double quotes, as the notebooks write them)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = [_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return repr(value)


@dataclass(frozen=True)
class DataParams(Params):
    samples_per_domain: int = param(8, "images per domain in the sample grid")


@dataclass(frozen=True)
class PretrainParams(Params):
    width_factors: tuple[float, ...] | None = param(None, "Figure 4a widths, x the profile's width; None: the profile's")
    class_fractions: tuple[float, ...] | None = param(
        None, "Figure 4b fractions of the source classes; None: the profile's")


TARGETS_HELP = "target domains; None: the nine of the Decathlon"


@dataclass(frozen=True)
class SeriesParallelParams(Params):
    targets: tuple[str, ...] | None = param(None, TARGETS_HELP)


@dataclass(frozen=True)
class PlacementParams(Params):
    targets: tuple[str, ...] | None = param(None, TARGETS_HELP)
    placements: tuple[str, ...] = param(("early", "mid", "late", "half"), "Table 1's placement rows")


@dataclass(frozen=True)
class RegularizationParams(Params):
    targets: tuple[str, ...] | None = param(None, TARGETS_HELP)
    uniform_decay: float | None = param(None, "one adapter decay for every domain; None: the profile's (0.0005)")
    width_factors: tuple[float, ...] | None = param(None, "pretrained widths x the profile's; None: the profile's")
    dropout: float = param(0.5, "dropout2d before the second adapter of each block")
    few_fraction: float | None = param(None, '"few images per class" as a fraction of cifar100\'s training set')


@dataclass(frozen=True)
class SVDParams(Params):
    targets: tuple[str, ...] | None = param(None, TARGETS_HELP)
    svd_rank: float | None = param(None, "K as a fraction of C, a float in (0, 1]; None -> C/2 (the paper)")
    svd_rank_abs: int | None = param(None, "K itself (an int); give svd_rank or svd_rank_abs, not both")

    def __post_init__(self) -> None:
        check_svd_rank(self.svd_rank, self.svd_rank_abs)  # `-p svd_rank 1` is refused, not read as K = 1

    @property
    def rank(self) -> float | int | None:
        """What `plans.svd_plan(rank=...)` takes: K (int), a fraction (float) or None."""
        return self.svd_rank_abs if self.svd_rank_abs is not None else self.svd_rank


@dataclass(frozen=True)
class TransferParams(Params):
    transfer_domains: tuple[str, ...] | None = param(
        None, "small, medium, large; None: the profile's (ucf101, cifar100, svhn)")
    fractions: tuple[float, ...] | None = param(None, "fractions of the training data; None: the profile's")
    methods: tuple[str, ...] = param(("finetune", "series", "parallel"), "")


@dataclass(frozen=True)
class ClassesParams(Params):
    class_fractions: tuple[float, ...] | None = param(
        None, "fractions of the source classes for pretraining; None: the profile's")


@dataclass(frozen=True)
class SourceStrengthParams(Params):
    targets: tuple[str, ...] | None = param(None, "small, medium, large; None: the profile's (ucf101, cifar100, svhn)")
    source_fractions: tuple[float, ...] = param((0.0625, 0.25, 1.0), "fractions of the source images pretrained on")
    methods: tuple[str, ...] = param(("finetune", "parallel", "bn"), "")


@dataclass(frozen=True)
class ReportParams(Params):
    paper_points: bool = param(True, "draw the paper's reference values in Figure 4 (full profile only)")
    write_figures: bool = param(True, "figures/table1_<profile>.md|csv and figures/fig4_<profile>.png|pdf")


@dataclass(frozen=True)
class OwnDomainParams(Params):
    images_from: str = param("dtd", "the MiniDecathlon domain whose images play \"your own\" folder")
    num_classes: int = param(5, "classes of it put in the folder (the first with two images or more)")
    adapter: str = param("parallel", "parallel | series")
    adapt_epochs: int | None = param(None, "None: the profile's adaptation epochs")
    work_dir: str = param("runs/own_domain", "the folder, base file and adapter file go under <work_dir>/<profile>")
