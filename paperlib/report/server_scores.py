"""The scores the Decathlon's evaluation server returns, read back into the test table.

The test labels are not released: each row's results file (`paperlib.submissions`) goes to the
challenge's server, which answers with the top-1 accuracy of each of the ten domains and the
score S. Copy those numbers into one file, in either form below, and
`paperlib report --server-scores FILE` validates it, stores it in the results store and fills the
test table and the claims from it.

JSON, an object keyed by row or a list of objects with a "model" key::

    {"Parallel Res. adapt.": {"imagenet12": 60.32, "aircraft": 64.21, ..., "S": 3412}, ...}
    [{"model": "parallel-res-adapt.json", "ImNet": 60.32, "Airc": 64.21, ..., "S": 3412}, ...]

CSV (``#`` lines are comments), a header then one line per row::

    model,ImNet,Airc,C100,DPed,DTD,GTSR,Flwr,OGlt,SVHN,UCF,S
    Parallel Res. adapt.,60.32,64.21,81.91,94.73,58.83,99.38,84.68,89.21,96.54,50.12,3412

A row is named by its Table 1 name or by its results file's name (with or without ".json").
Domains are Decathlon names (imagenet12, ...) or Table 1 headers (ImNet, ...); all ten are
required, as top-1 accuracies in percent. S is optional: the server's value is kept as given;
without it, S is computed from the accuracies with the paper's baseline (sec. 4.1).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paperlib.core.errors import DataError
from paperlib.core.files import read_json, write_json
from paperlib.report.score import BASELINE_ACCURACY, DOMAIN_ORDER, PAPER_COLUMNS, decathlon_score, paper_table1
from paperlib.report.submissions import submission_name

STORED_NAME = "server-scores.json"  # under <results>/<profile>/
IMPORT_HINT = "import the server's scores with `paperlib report --server-scores FILE`"


def known_rows() -> tuple[str, ...]:
    """The row names a scores file may use: the paper's Table 1 rows and our extra one."""
    return (*paper_table1()["model"], "Series (a posteriori)")


def read_server_scores(path: str | Path, rows: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per model: "model", the ten domains (Table 1 order, %) and "S" (NaN where the file
    has none). Any problem raises DataError, one line naming the file, the row and the field."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"server scores {path} are unreadable ({err})") from None
    records = _json_records(path, text) if text.lstrip()[:1] in ("{", "[") else _csv_records(path, text)
    names = {}
    for r in rows if rows is not None else known_rows():  # the name, its file name, its file stem
        names.update({r: r, submission_name(r): r, submission_name(r).removesuffix(".json"): r})
    out, seen = [], set()
    for model, values in records:
        row = names.get(model)
        if row is None:
            raise DataError(f"server scores {path}: unknown row {model!r}; use a Table 1 name "
                            f"({', '.join(dict.fromkeys(names.values()))}) or its results file name")
        if row in seen:
            raise DataError(f"server scores {path}: row {row!r} is given twice")
        seen.add(row)
        out.append({"model": row, **_row_values(path, row, values)})
    if not out:
        raise DataError(f"server scores {path} hold no row: see paperlib/report/server_scores.py for the format")
    return pd.DataFrame(out, columns=["model", *DOMAIN_ORDER, "S"])


def _json_records(path: Path, text: str) -> list[tuple[str, Mapping]]:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise DataError(f"server scores {path} are not valid JSON ({err})") from None
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(d, dict) and "model" in d for d in data):
        items = [(d["model"], {k: v for k, v in d.items() if k != "model"}) for d in data]
    else:
        raise DataError(f"server scores {path}: expected an object keyed by row or a list of objects "
                        f"with a \"model\" key")
    for model, values in items:
        if not isinstance(values, dict):
            raise DataError(f"server scores {path}: row {model!r} is not an object of domain -> accuracy")
    return [(str(m), v) for m, v in items]


def _csv_records(path: Path, text: str) -> list[tuple[str, Mapping]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not reader.fieldnames or reader.fieldnames[0].strip() != "model":
        raise DataError(f"server scores {path}: the CSV header must start with \"model\" "
                        f"(then the ten domains and optionally S)")
    records = []
    for n, line in enumerate(reader, 2):
        if None in line:
            raise DataError(f"server scores {path}: line {n} has more fields than the header")
        # a short line or an empty cell leaves the field out (S is optional; a domain is then missing)
        line = {k.strip(): v.strip() for k, v in line.items() if v is not None and v.strip()}
        if "model" not in line:
            raise DataError(f"server scores {path}: line {n} names no row (first field empty)")
        records.append((line.pop("model"), line))
    return records


def _row_values(path: Path, row: str, values: Mapping) -> dict[str, float]:
    """The ten accuracies and S of one row, checked."""
    domain_of = {**{d: d for d in DOMAIN_ORDER}, **PAPER_COLUMNS, "S": "S"}
    unknown = sorted(set(values) - set(domain_of))
    if unknown:
        raise DataError(f"server scores {path}: row {row!r} has unknown field(s) {unknown}; "
                        f"fields are the domains ({', '.join(DOMAIN_ORDER)}) or Table 1 headers, and S")
    out: dict[str, float] = {"S": float("nan")}
    for key, value in values.items():
        name = domain_of[key]
        if name in out and name != "S":
            raise DataError(f"server scores {path}: row {row!r} gives {name} twice")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(f"server scores {path}: row {row!r}, {key} = {value!r} is not a number") from None
        if name != "S" and not 0.0 <= number <= 100.0:
            raise DataError(f"server scores {path}: row {row!r}, {key} = {number} is not a top-1 accuracy in %")
        out[name] = number
    missing = [d for d in DOMAIN_ORDER if d not in out]
    if missing:
        raise DataError(f"server scores {path}: row {row!r} lacks {', '.join(missing)} (all ten domains needed)")
    if all(out[d] <= 1.0 for d in DOMAIN_ORDER):
        raise DataError(f"server scores {path}: row {row!r} looks like fractions; give accuracies in % (x 100)")
    return out


def test_table_from_server_scores(scores: pd.DataFrame, sizes: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The test table in the form of the report's Table 1 (model, params_x, the paper's columns,
    mean, S): accuracies and S as the server gave them; S computed with the paper's baseline
    where the file had none. `sizes`: the "#par" of each row (NaN where not given)."""
    sizes = sizes or {}
    out = pd.DataFrame({"model": scores["model"], "params_x": [sizes.get(m, float("nan")) for m in scores["model"]]})
    for column, domain in PAPER_COLUMNS.items():
        out[column] = scores[domain].astype(float).to_numpy()
    out["mean"] = out[list(PAPER_COLUMNS)].mean(axis=1)
    computed = [decathlon_score({d: row[d] for d in DOMAIN_ORDER}, BASELINE_ACCURACY) for _, row in scores.iterrows()]
    out["S"] = scores["S"].where(scores["S"].notna(), pd.Series(computed, index=scores.index)).to_numpy()
    return out.reset_index(drop=True)


test_table_from_server_scores.__test__ = False  # a name pytest would otherwise collect as a test


# ---------------------------------------------------------------- the stored copy


def stored_path(results_dir: str | Path, profile: str = "full") -> Path:
    return Path(results_dir) / profile / STORED_NAME


def import_server_scores(path: str | Path, results_dir: str | Path, profile: str = "full") -> Path:
    """Validate FILE and store it (normalised, atomically) where the report finds it."""
    scores = read_server_scores(path)
    rows = {r["model"]: {k: (None if pd.isna(v) else v) for k, v in r.items() if k != "model"}
            for r in scores.to_dict("records")}
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    out = stored_path(results_dir, profile)
    write_json(out, {"format": 1, "source": str(path), "imported": now, "rows": rows})
    return out


def load_imported_scores(results_dir: str | Path, profile: str = "full") -> tuple[pd.DataFrame, str] | None:
    """(scores, where they came from) as imported by `import_server_scores`, or None."""
    path = stored_path(results_dir, profile)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        rows = data["rows"]
        frame = pd.DataFrame([{"model": m, **{k: (float("nan") if v is None else v) for k, v in r.items()}}
                              for m, r in rows.items()], columns=["model", *DOMAIN_ORDER, "S"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise DataError(f"{path} is not an import of server scores: {IMPORT_HINT} again") from None
    return frame, str(data.get("source", path))


# ---------------------------------------------------------------- which table the claims use


@dataclass(frozen=True)
class ClaimsSource:
    """The table the claims are computed from, and a sentence saying which one it is; `long`: its
    accuracies per (model, domain, replicate) where the table is not the series' own (None: the
    report's per-replicate frames)."""

    table: pd.DataFrame
    split: str  # "test" or "val"
    note: str
    long: pd.DataFrame | None = None


def per_domain(table: pd.DataFrame) -> pd.DataFrame:
    """A Table 1 of one number per model and domain (the server's) as (model, domain, replicate,
    accuracy) rows, all of one replicate: the claims pair them by domain."""
    targets = {column: domain for column, domain in PAPER_COLUMNS.items() if domain != "imagenet12"}
    rows = [{"model": row["model"], "domain": domain, "replicate": 0, "accuracy": float(row[column])}
            for _, row in table.iterrows() for column, domain in targets.items()]
    return pd.DataFrame(rows, columns=["model", "domain", "replicate", "accuracy"])


def claims_source(validation_table: pd.DataFrame, test_table: pd.DataFrame | None = None, *,
                  scores_file: str | Path | None = None) -> ClaimsSource:
    """The test table when the server's scores were imported, the validation table otherwise
    (trained on train, evaluated on val: on some domains, aircraft and ucf101 among them, val and
    test accuracies differ a lot, so the verdicts are indicative)."""
    if test_table is not None and len(test_table):
        origin = f" ({scores_file})" if scores_file else ""
        return ClaimsSource(test_table, "test", f"claims from the test scores of the evaluation server{origin}",
                            long=per_domain(test_table))
    return ClaimsSource(validation_table, "val",
                        "claims from the validation table (trained on train, evaluated on val); "
                        f"test labels not available: {IMPORT_HINT}")
