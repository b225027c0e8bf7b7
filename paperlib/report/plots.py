"""Figures as pure functions of data frames; saving is atomic.

Figure 4 of the paper: (a) CIFAR-100 accuracy of parallel adapters against the pretrained
network's width, with and without dropout, on the full training set and on few images per
class; (b) against the number of pretraining classes; (c-e) transfer learning against the
fraction of training data on a small, a medium and a large domain (finetuning, series, parallel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# No backend is forced here: Jupyter and JupyterLab set their inline backend (so a figure this
# module returns is shown under its cell), and without a display matplotlib picks Agg itself.
import matplotlib.pyplot as plt
import pandas as pd

from paperlib.core.files import atomic_path

# What the paper states in its text about Figure 4 (sec. 4.1, 4.2), drawn as reference points.
PAPER_FIG4_POINTS = {
    "a": [  # parallel adapters + dropout, pretrained width 2.5x, CIFAR-100
        {"width_x": 2.5, "subset": "full", "accuracy": 85.0, "label": "paper: 85% (full, 2.5x, dropout)"},
        {"width_x": 2.5, "subset": "few", "accuracy": 73.0, "label": "paper: 73% (50/class, 2.5x, dropout)"},
    ],
    "e": [  # MIT Places 205, full training set
        {"fraction": 1.0, "method": "finetune", "accuracy": 51.13, "label": "paper: finetuning 51.13%"},
        {"fraction": 1.0, "method": "parallel", "accuracy": 47.2, "label": "paper: adapters 47.2%"},
    ],
}
METHOD_STYLE = {"finetune": ("tab:gray", "s"), "series": ("tab:blue", "^"), "parallel": ("tab:red", "o")}


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Write a figure atomically (temporary file, then rename), in the format of the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=path.suffix.lstrip("."))
    return path


def _curve(ax: plt.Axes, frame: pd.DataFrame, x: str, *, scale: float = 1.0, **style) -> None:
    """The mean accuracy over the runs at each `x` (their replicates) as a line, and a band of one
    standard deviation about it where there are several."""
    stats = frame.groupby(x)["accuracy"].agg(["mean", "std"]).sort_index()
    xs = stats.index.to_numpy(dtype=float) * scale
    ax.plot(xs, stats["mean"], **style)
    if stats["std"].notna().any():
        spread = stats["std"].fillna(0).to_numpy()
        ax.fill_between(xs, stats["mean"] - spread, stats["mean"] + spread, color=style.get("color"), alpha=0.15,
                        linewidth=0)


def _panel_a(ax: plt.Axes, frame: pd.DataFrame, *, reference_points: bool) -> None:
    """frame: width_x, dropout (bool), subset ("full" | "few"), accuracy (one row per replicate)."""
    for (subset, dropout), group in frame.groupby(["subset", "dropout"]):
        _curve(ax, group, "width_x", marker="o", linestyle="-" if dropout else "--",
               color="tab:red" if subset == "full" else "tab:orange",
               label=f"{subset} data, {'dropout' if dropout else 'no dropout'}")
    if reference_points:
        for p in PAPER_FIG4_POINTS["a"]:
            ax.scatter([p["width_x"]], [p["accuracy"]], marker="*", s=120, color="black", zorder=5)
            ax.annotate(p["label"], (p["width_x"], p["accuracy"]), fontsize=6, xytext=(-90, 4),
                        textcoords="offset points")
    ax.set_xlabel("pretrained width (x)")
    ax.set_title("(a) width and dropout, cifar100")


def _panel_b(ax: plt.Axes, frame: pd.DataFrame) -> None:
    """frame: classes, accuracy (optionally method; one row per replicate)."""
    _curve(ax, frame, "classes", marker="o", color="tab:red", label="parallel adapters")
    ax.set_xlabel("pretraining classes")
    ax.set_title("(b) pretraining classes, cifar100")


def _panel_transfer(ax: plt.Axes, frame: pd.DataFrame, title: str, points: list[dict] | None) -> None:
    """frame: fraction, method, accuracy (one row per replicate)."""
    for method, group in frame.groupby("method"):
        color, marker = METHOD_STYLE.get(method, ("tab:green", "x"))
        _curve(ax, group, "fraction", scale=100, marker=marker, color=color, label=method)
    for p in points or []:
        color, _ = METHOD_STYLE.get(p["method"], ("black", "*"))
        ax.scatter([p["fraction"] * 100], [p["accuracy"]], marker="*", s=120, color=color, edgecolor="black",
                   zorder=5, label=p["label"])
    ax.set_xscale("log")
    ax.set_xlabel("training data used (%)")
    ax.set_title(title)


def figure4(panels: Mapping[str, pd.DataFrame], *, profile: str, transfer_titles: Mapping[str, str] | None = None,
            paper_points: bool = True) -> plt.Figure:
    """Figure 4 (a to e) from one frame per panel; missing panels are left blank with a note. Each
    curve is the mean over the replicates with a band of one standard deviation.

    panels: "a", "b" as described in their helpers; "c", "d", "e" transfer frames.
    transfer_titles: the domain shown in c, d, e (the paper: UCF-101, CIFAR-100, MIT Places).
    paper_points: draw the paper's reference values (meaningful only at the full profile's scale).
    """
    titles = {"c": "(c) small", "d": "(d) medium", "e": "(e) large", **(transfer_titles or {})}
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.2))
    for key, ax in zip("abcde", axes):
        frame = panels.get(key)
        if frame is None or frame.empty:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"({key})")
            continue
        if key == "a":
            _panel_a(ax, frame, reference_points=paper_points)
        elif key == "b":
            _panel_b(ax, frame)
        else:
            _panel_transfer(ax, frame, titles[key], PAPER_FIG4_POINTS.get(key) if paper_points else None)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Figure 4 reproduced ({profile} profile)")
    fig.tight_layout()
    return fig


def accuracy_bars(table: pd.DataFrame, domains: list[str], *, title: str) -> plt.Figure:
    """One group of bars per domain, one bar per model row (columns: model + domains)."""
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(domains)), 4))
    n = len(table)
    width = 0.8 / max(n, 1)
    for i, (_, row) in enumerate(table.iterrows()):
        xs = [j + i * width for j in range(len(domains))]
        ax.bar(xs, [row[d] for d in domains], width=width, label=row["model"])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(domains))], domains, rotation=30, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def source_strength(gaps: pd.DataFrame, *, profile: str, path: str | os.PathLike | None = None) -> plt.Figure:
    """Notebook 09: the gap parallel - finetuning (points) against the source images the network
    was pretrained on, one line per target. gaps: index = source images, columns = targets
    (report.claims.source_strength_gaps with the fractions turned into image counts). Written to `path`
    when given; returned, so the notebook shows it under the cell."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for domain in gaps.columns:
        ax.plot(gaps.index, gaps[domain], marker="o", label=domain)
    if len(gaps.columns) > 1:
        ax.plot(gaps.index, gaps.mean(axis=1), color="black", linestyle="--", label="mean")
    ax.axhline(0.0, color="gray", linewidth=0.8)
    ax.set_xscale("log")
    ax.minorticks_off()  # the log axis' own labels crowd; the source sizes themselves label it
    ax.set_xticks(list(gaps.index), [f"{int(n):,}" for n in gaps.index])
    ax.set_xlabel("source images pretrained on")
    ax.set_ylabel("parallel - finetuning (points)")
    ax.set_title(f"Source strength ({profile} profile)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def accuracy_curve(history: list[dict], domain: str, *, title: str) -> plt.Figure:
    """Accuracy of `domain` per epoch from a run record's history: the validation accuracy where
    the history holds it (entry["val_acc"][domain]), else the training accuracy, labelled as such
    (a record written before validation was tracked per epoch)."""
    epochs = [entry["epoch"] for entry in history]
    val = [(entry.get("val_acc") or {}).get(domain) for entry in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    if any(v is not None for v in val):
        ax.plot(epochs, [float("nan") if v is None else v for v in val], marker="o", label="validation accuracy")
    else:
        ax.text(0.02, 0.02, "no per-epoch validation in this record: training accuracy shown",
                transform=ax.transAxes, fontsize=7)
    train = [(entry.get("train_acc") or {}).get(domain) for entry in history]
    ax.plot(epochs, [float("nan") if v is None else v for v in train], marker=".", linestyle="--",
            color="tab:gray", label="training accuracy (augmented batches)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
