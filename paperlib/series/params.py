"""Notebook parameters: one frozen dataclass per notebook is the single source of its
`parameters` cell (generated from it by `parameters_cell`) and validates what papermill passes.

Every class extends `Study` (series.study), whose options (profile, data, replicates, ...) are
declared there once; a notebook's class adds its own. The `parameters` cell (which papermill
overrides with a cell of its own after it) assigns plain literals; the next cell calls
`Params.from_namespace(globals())`, which takes each field's value from the notebook's globals
and rejects a name that the parameter cells just run assign but is no field (a mistyped
`papermill -p` is an error here, not papermill's silent warning), and a value of the wrong type.
Only the parameter cells run just before are read, so the loop "change a parameter, run the cell
and the next" works at any point of a kernel's life, and a typo is forgotten once mended.
Values derived from the parameters are computed after it, never in the cell itself.
To add or change a parameter, edit the dataclass and regenerate the cells
(`paperlib reproduce --write-parameter-cells`); a test checks that they agree.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paperlib.core.strict import describe_type, matches_type
from paperlib.series.study import Study, is_option, option, option_help
from paperlib.train.spec import check_svd_rank

# The first line of a parameter cell: the notebook's own (`parameters_cell`) and papermill's
# injected one, whose first line is "# Parameters" too.
PARAMETERS_MARK = "# Parameters"



@dataclass(frozen=True)
class Params(Study):
    """What every notebook takes: the series options (Study's), validated."""

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """The parameters as a notebook's globals hold them, validated; a name assigned by the
        parameter cells run just before the calling cell (IPython's `In`) that is no parameter
        is an error."""
        fields = parameter_names(cls)
        unknown = sorted(_assigned_by_parameter_cells(namespace.get("In", ())) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {', '.join(fields)}")
        return cls.from_dict({name: namespace[name] for name in fields if name in namespace})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        fields = parameter_names(cls)
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {', '.join(fields)}")
        hints = typing.get_type_hints(cls)
        clean = {}
        for name, value in values.items():
            if isinstance(value, list):
                value = tuple(value)
            if not matches_type(value, hints[name]):
                raise TypeError(f"parameter {name} must be {describe_type(hints[name])}, got {value!r}")
            clean[name] = value
        return cls(**clean)

    @property
    def study(self) -> Study:
        """The series options alone, as the plans and the report take them."""
        return Study(**self.options())


def parameter_names(cls: type[Params]) -> list[str]:
    """The fields a notebook's parameters cell sets: the study's options, then the notebook's own."""
    return [f.name for f in dataclasses.fields(cls) if is_option(f)]


def _assigned_by_parameter_cells(history: Sequence[str]) -> set[str]:
    """The names assigned by the run of parameter cells (`PARAMETERS_MARK`) just before the
    current cell, the last entry of `history`."""
    names: set[str] = set()
    for source in reversed(list(history)[:-1]):
        if not source.lstrip().startswith(PARAMETERS_MARK):
            break
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def parameters_cell(cls: type[Params]) -> str:
    """The source of the notebook's `parameters` cell, generated from `cls`: a first line that
    marks it, then one line per field, `name = default  # help`."""
    lines = [f"{PARAMETERS_MARK}: change any, then run this cell and the next"]
    for f in dataclasses.fields(cls):
        if not is_option(f):
            continue
        value = f.metadata.get("expr") or _literal(f.default)
        lines.append(f"{f.name} = {value}  # {option_help(f)}")
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
    samples_per_domain: int = option(8, "images per domain in the sample grid")


@dataclass(frozen=True)
class PretrainParams(Params):
    width_factors: tuple[float, ...] | None = option(None, "Figure 4a widths, x the profile's width; None: the profile's")
    class_fractions: tuple[float, ...] | None = option(
        None, "Figure 4b fractions of the source classes; None: the profile's")


TARGETS_HELP = "target domains; None: the nine of the Decathlon"


@dataclass(frozen=True)
class SeriesParallelParams(Params):
    targets: tuple[str, ...] | None = option(None, TARGETS_HELP)


@dataclass(frozen=True)
class PlacementParams(Params):
    targets: tuple[str, ...] | None = option(None, TARGETS_HELP)
    placements: tuple[str, ...] = option(("early", "mid", "late", "half"), "Table 1's placement rows")


@dataclass(frozen=True)
class RegularizationParams(Params):
    targets: tuple[str, ...] | None = option(None, TARGETS_HELP)
    uniform_decay: float | None = option(None, "one adapter decay for every domain; None: the profile's (0.0005)")
    width_factors: tuple[float, ...] | None = option(None, "pretrained widths x the profile's; None: the profile's")
    dropout: float = option(0.5, "dropout2d before the second adapter of each block")
    few_fraction: float | None = option(None, '"few images per class" as a fraction of cifar100\'s training set')


@dataclass(frozen=True)
class SVDParams(Params):
    targets: tuple[str, ...] | None = option(None, TARGETS_HELP)
    svd_rank: float | None = option(None, "K as a fraction of C, a float in (0, 1]; None -> C/2 (the paper)")
    svd_rank_abs: int | None = option(None, "K itself (an int); give svd_rank or svd_rank_abs, not both")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_svd_rank(self.svd_rank, self.svd_rank_abs)  # `-p svd_rank 1` is refused, not read as K = 1

    @property
    def rank(self) -> float | int | None:
        """What `plans.svd_plan(rank=...)` takes: K (int), a fraction (float) or None."""
        return self.svd_rank_abs if self.svd_rank_abs is not None else self.svd_rank


@dataclass(frozen=True)
class TransferParams(Params):
    transfer_domains: tuple[str, ...] | None = option(
        None, "small, medium, large; None: the profile's (ucf101, cifar100, svhn)")
    fractions: tuple[float, ...] | None = option(None, "fractions of the training data; None: the profile's")
    methods: tuple[str, ...] = option(("finetune", "series", "parallel"), "the methods compared at each fraction")


@dataclass(frozen=True)
class ClassesParams(Params):
    class_fractions: tuple[float, ...] | None = option(
        None, "fractions of the source classes for pretraining; None: the profile's")


@dataclass(frozen=True)
class SourceStrengthParams(Params):
    targets: tuple[str, ...] | None = option(None, "small, medium, large; None: the profile's (ucf101, cifar100, svhn)")
    source_fractions: tuple[float, ...] = option((0.0625, 0.25, 1.0), "fractions of the source images pretrained on")
    methods: tuple[str, ...] = option(("finetune", "parallel", "bn"), "the methods adapted from each source")


@dataclass(frozen=True)
class ReportParams(Params):
    paper_points: bool = option(True, "draw the paper's reference values in Figure 4 (full profile only)")
    write_figures: bool = option(True, "figures/table1_<profile>.md|csv and figures/fig4_<profile>.png|pdf")


@dataclass(frozen=True)
class OwnDomainParams(Params):
    images_from: str = option("dtd", "the MiniDecathlon domain whose images play \"your own\" folder")
    num_classes: int = option(5, "classes of it put in the folder (the first with two images or more)")
    adapter: str = option("parallel", "parallel | series")
    adapt_epochs: int | None = option(None, "None: the profile's adaptation epochs")
    work_dir: str = option("runs/own_domain", "the folder, base file and adapter file go under <work_dir>/<profile>")
