"""Table 1 and Figure 4's frames, assembled from the results store (pure frames in, frames out):
every stored run of the series (`collect`, which never trains), our rows with their "#par" and
Decathlon score, beside the paper's, and what the choice of checkpoint changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from paperlib.data.domains import SOURCE, TARGETS
from paperlib.model.compress import compress_jointly
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import frozen_network_size, multi_domain_size, round_multiplier
from paperlib.report.score import BASELINE_ACCURACY, PAPER_COLUMNS, decathlon_score, paper_table1
from paperlib.report.unlabelled import accuracy_pivot
from paperlib.series.lora_front import lora_budget
from paperlib.series.notebooks import notebook_plans
from paperlib.series.plans import TABLE1_ROWS
from paperlib.series.running import load_all
from paperlib.series.study import Study

COLUMN_OF = {domain: column for column, domain in PAPER_COLUMNS.items()}  # imagenet12 -> ImNet


@dataclass
class SeriesResults:
    """Every frame the report needs, one row per stored run and domain (see running.run_all),
    and the runs of the series that the store does not hold."""

    pretrain: pd.DataFrame
    table1: pd.DataFrame  # model, domain, accuracy
    a_posteriori: pd.DataFrame
    uniform_decay: pd.DataFrame
    width_dropout: pd.DataFrame
    transfer: pd.DataFrame
    classes: pd.DataFrame
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)  # notebook, part, method, domains, run_id
    front: pd.DataFrame = field(default_factory=pd.DataFrame)  # family, point, size_x (series.lora_front.front_plan)
    source_strength: pd.DataFrame = field(default_factory=pd.DataFrame)  # source_fraction, domain, method, accuracy


# frame of SeriesResults -> the (notebook, part)s of notebooks.SERIES it is read from
PARTS = {
    "pretrain": [("01_pretrain", "pretrain")],
    "table1": [("02_series_vs_parallel", "table1"), ("02_series_vs_parallel", "distilled"), ("03_placement", "table1"),
               ("05_svd", "svd"), ("05_svd", "lora")],
    "a_posteriori": [("02_series_vs_parallel", "a_posteriori")],
    "uniform_decay": [("04_regularization", "uniform_decay")],
    "width_dropout": [("04_regularization", "width_dropout")],
    "transfer": [("06_transfer", "transfer")],
    "classes": [("07_pretraining", "classes")],
    "front": [("05_svd", "front")],
    "source_strength": [("09_source_strength", "source_strength")],
}


def collect(study: Study) -> SeriesResults:
    """Read the series' runs (notebooks.SERIES, at the notebooks' default parameters) from the
    store. Never trains: a run the store lacks is listed in `missing`, and the tables and claims
    are computed from what is there."""
    plans = {nb: notebook_plans(study, nb) for nb in {nb for parts in PARTS.values() for nb, _ in parts}}
    frames, missing = {}, []
    for name, parts in PARTS.items():
        found = []
        for notebook, part in parts:
            rows, absent = load_all(study, plans[notebook][part])
            found.append(rows)
            missing += [{"notebook": notebook, "part": part, "method": c.method, "domains": "+".join(c.domains),
                         "run_id": c.run_id} for c in absent]
        frame = pd.concat(found, ignore_index=True)
        frames[name] = frame.drop_duplicates(["run_id", "domain"], ignore_index=True) if len(frame) else frame
    missing_frame = pd.DataFrame(missing, columns=["notebook", "part", "method", "domains", "run_id"])
    return SeriesResults(**frames, missing=missing_frame.drop_duplicates("run_id", ignore_index=True))


def size_column(width: float, classes: Mapping[str, int]) -> dict[str, float]:
    """Table 1's "#par" of each of our rows, from ten-domain models built at our width and class
    counts (the SVD row compressed with K = C/2)."""
    domains = [(d, classes[d]) for d in (SOURCE, *TARGETS) if d in classes]
    plain = ResNet26.build([(SOURCE, classes[SOURCE])], width=width)
    reference = multi_domain_size(plain)

    def ratio(model, finetuned=False) -> float:
        return round_multiplier(multi_domain_size(model, finetuned=finetuned) / reference)

    out = {}
    for row, (method, network, placement) in TABLE1_ROWS.items():
        if method == "lora":  # the network peft builds at the row's rank (lora_front.lora_budget)

            out[row] = round_multiplier(lora_budget(width, dict(classes)).multiplier)
            continue
        adapter = {"series": "series", "parallel": "parallel", "parallel_distilled": "parallel"}.get(method)
        out[row] = ratio(ResNet26.build(domains, width=width, adapter=adapter, placement=placement),
                         finetuned=method == "finetune")
    out["Feature extractor"] = round_multiplier(frozen_network_size(ResNet26.build(domains, width=width), SOURCE) / reference)
    parallel = ResNet26.build(domains, width=width, adapter="parallel")
    out["Parallel SVD"] = ratio(compress_jointly(parallel, inplace=True)[0])
    out["Series (a posteriori)"] = out["Series Res. adapt."]
    return out


def table1_long(results: SeriesResults) -> pd.DataFrame:
    """Table 1's target accuracies, one row per (model, domain, replicate): what the rows' means,
    their spreads and the claims' paired differences are computed from."""
    frame = pd.concat([results.table1, results.a_posteriori], ignore_index=True)
    if not len(frame):
        return pd.DataFrame(columns=["model", "domain", "replicate", "accuracy"])
    return table1_long_of(frame)


def table1_by_replicate(results: SeriesResults, *, classes: Mapping[str, int], width: float,
                        profile: str) -> pd.DataFrame:
    """One row per model and replicate: the paper's columns (ImNet: the replicate's source network
    the row starts from), the mean and S, the baseline of S being the same for every replicate
    (`score_baseline` of the rows averaged over replicates)."""
    source = with_replicate(results.pretrain)
    source = source[source["width_factor"].eq(1.0) & source["class_fraction"].eq(1.0)]
    imnet = dict(zip(zip(source["network"], source["replicate"]), source["accuracy"]))
    frames = pd.concat([results.table1, results.a_posteriori], ignore_index=True)
    present = set(frames["model"]) if "model" in frames else set()
    order = [r for r in (*TABLE1_ROWS, "Parallel SVD", "Series (a posteriori)") if r in present]
    if not order:
        return pd.DataFrame(columns=["model", "replicate", "params_x", *PAPER_COLUMNS, "mean", "S"])
    frames = with_replicate(frames)
    sizes = size_column(width, classes)
    rows = []
    for (model, replicate), runs in frames.groupby(["model", "replicate"], sort=False):
        if model not in order:
            continue
        # keeps a row whose accuracies are all unknown (an unlabelled split)
        wide = accuracy_pivot(runs, order=[model], add_mean=False).iloc[0]
        row = {"model": model, "replicate": replicate, "params_x": sizes.get(model)}
        for column, domain in PAPER_COLUMNS.items():
            row[column] = float(wide[domain]) if domain in wide else float("nan")
        network = "series" if "Series" in model and "posteriori" not in model else "plain"
        row["ImNet"] = imnet.get((network, replicate), float("nan"))
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.assign(order=out["model"].map(order.index)).sort_values(["order", "replicate"]).drop(columns="order")
    out["mean"] = out[list(PAPER_COLUMNS)].mean(axis=1)
    baseline = score_baseline(out.groupby("model", sort=False)[list(PAPER_COLUMNS)].mean().reset_index(), profile)
    out["S"] = [_score(row, baseline) for _, row in out.iterrows()]
    return out.reset_index(drop=True)


def table1(results: SeriesResults, *, classes: Mapping[str, int], width: float, profile: str) -> pd.DataFrame:
    """Our Table 1: one row per model, the paper's column names, mean and S (see `score_baseline`),
    each the mean over the row's replicates, with their standard deviations over the replicates
    (columns `<column>_sd`; NaN with one replicate) and the number of replicates."""
    by_replicate = table1_by_replicate(results, classes=classes, width=width, profile=profile)
    values = [*PAPER_COLUMNS, "mean", "S"]
    groups = by_replicate.groupby("model", sort=False)
    out = groups[["params_x", *values]].mean().reset_index()
    spread = groups[values].std(ddof=1).add_suffix("_sd").reset_index(drop=True)
    out = pd.concat([out, spread], axis=1)
    out["replicates"] = groups.size().to_numpy()
    return out


def score_baseline(ours: pd.DataFrame, profile: str) -> dict[str, float]:
    """Emax of the Decathlon score: the paper's baseline at the full profile; elsewhere our own
    Finetuning row (the paper's baseline is near its finetuning), since the MiniDecathlon's
    accuracies live on another scale."""
    if profile == "full" or "Finetuning" not in set(ours["model"]):
        return dict(BASELINE_ACCURACY)
    row = ours[ours["model"] == "Finetuning"].iloc[0]
    # a baseline at 100% would make Emax 0: keep it just below
    return {d: min(float(row[c]), 99.9) for c, d in PAPER_COLUMNS.items() if pd.notna(row[c])}


def _score(row: pd.Series, baseline: Mapping[str, float]) -> float:
    accs = {d: float(row[c]) for c, d in PAPER_COLUMNS.items() if pd.notna(row[c]) and d in baseline}
    return decathlon_score(accs, baseline) if accs else float("nan")


def table1_beside_paper(ours: pd.DataFrame) -> pd.DataFrame:
    """Every row of the paper's Table 1, with our row under it where we trained one; our rows keep
    the spread of their mean and S over the replicates (`sd(mean)`, `sd(S)`; the paper reports none)."""
    paper = paper_table1()
    columns = ["params_x", *PAPER_COLUMNS, "mean", "S"]

    def ours_row(m: pd.Series) -> dict:
        return {"model": m["model"], "source": "ours", **{c: m.get(c) for c in columns},
                "sd(mean)": m.get("mean_sd", float("nan")), "sd(S)": m.get("S_sd", float("nan"))}

    rows = []
    for _, p in paper.iterrows():
        rows.append({"model": p["model"], "source": "paper", **{c: p[c] for c in columns},
                     "sd(mean)": float("nan"), "sd(S)": float("nan")})
        mine = ours[ours["model"] == p["model"]]
        if len(mine):
            rows.append(ours_row(mine.iloc[0]))
    for _, m in ours[~ours["model"].isin(paper["model"])].iterrows():
        rows.append(ours_row(m))
    return pd.DataFrame(rows)


def figure4_frames(results: SeriesResults, *, source_classes: int) -> dict[str, pd.DataFrame]:
    wd = results.width_dropout.rename(columns={"width_factor": "width_x"})
    classes = results.classes.assign(classes=lambda f: (f["class_fraction"] * source_classes).round().astype(int))
    frames = {"a": wd[["width_x", "dropout", "subset", "accuracy"]], "b": classes[["classes", "accuracy"]]}
    for key, domain in zip("cde", results.transfer["domain"].drop_duplicates()):
        frames[key] = results.transfer[results.transfer["domain"] == domain][["fraction", "method", "accuracy"]]
    return frames


def transfer_titles(results: SeriesResults) -> dict[str, str]:
    sizes = ("small", "medium", "large")
    return {k: f"({k}) {d} ({s})" for k, d, s in zip("cde", results.transfer["domain"].drop_duplicates(), sizes)}


def checkpoint_effect(results: SeriesResults, split: str) -> pd.DataFrame:
    """What the choice of checkpoint changes (a listed departure, running.REPORTED_CHECKPOINT):
    per Table 1 row, the mean target accuracy on `split` of the last epoch's weights and of the
    weights best on validation (the authors' choice), from the same runs' records."""
    frame = pd.concat([results.table1, results.a_posteriori], ignore_index=True)
    last, best = f"acc_{split}", f"acc_best_{split}"
    if not len(frame) or last not in frame or best not in frame:
        return pd.DataFrame(columns=["model", "last epoch", "best on val", "best - last"])
    targets = frame[frame["domain"].ne(SOURCE)].dropna(subset=[last, best])
    means = targets.groupby("model", sort=False)[[last, best]].mean()
    out = means.rename(columns={last: "last epoch", best: "best on val"}).reset_index()
    out["best - last"] = out["best on val"] - out["last epoch"]
    return out.round(2)


def with_replicate(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a replicate column (0 where it has none: one replicate, or the server's table)."""
    return frame if "replicate" in frame else frame.assign(replicate=0)


def table1_long_of(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of Table 1 runs (model, domain, replicate, accuracy: the source's row dropped), in
    `table1_long`'s form."""
    frame = with_replicate(frame)
    keep = frame[frame["domain"].ne(SOURCE)][["model", "domain", "replicate", "accuracy"]]
    return keep.assign(accuracy=pd.to_numeric(keep["accuracy"], errors="coerce")).reset_index(drop=True)
