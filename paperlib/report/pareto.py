"""LoRA-conv (peft) against the parallel adapters at equal budget (not in the paper): the
accuracy-parameters front's figure, the claim, and the README's statement of the ranks."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from paperlib.core.paths import project_root
from paperlib.report.plots import save_figure
from paperlib.report.score import PAPER_COLUMNS
from paperlib.report.verdicts import MARGIN, Difference, compare
from paperlib.series.lora_front import LORA_ROW, PARALLEL_ROW, lora_budget
from paperlib.train.profiles import get_profile, profile_classes


def pareto_figure(frame: pd.DataFrame, *, profile: str, path: str | os.PathLike | None = None, write: bool = True):
    """Accuracy against the size multiplier, one panel per domain, one line per family; written to
    `path` (default figures/pareto_<profile>.png in the project) unless `write` is False, and
    returned (a notebook shows it under the cell). frame: domain, family, point, size_x, accuracy
    (`front_plan`'s rows); a point's replicates give its mean and a bar of one standard deviation."""
    import matplotlib.pyplot as plt

    domains = list(dict.fromkeys(frame["domain"])) if len(frame) else []
    fig, axes = plt.subplots(1, max(1, len(domains)), figsize=(4 * max(1, len(domains)), 3.4), squeeze=False)
    style = {"parallel": ("tab:red", "o"), "svd": ("tab:green", "s"), "lora": ("tab:purple", "^")}
    for ax, domain in zip(axes[0], domains):
        here = frame[frame["domain"] == domain]
        points = here.groupby(["family", "point", "size_x"], sort=False)["accuracy"].agg(["mean", "std"]).reset_index()
        for family, group in points.groupby("family", sort=False):
            group = group.sort_values("size_x")
            color, marker = style.get(family, ("black", "x"))
            ax.errorbar(group["size_x"], group["mean"], yerr=group["std"].fillna(0), marker=marker, color=color,
                        label=family, capsize=2)
            for _, row in group.iterrows():
                ax.annotate(row["point"].split(" ", 1)[1], (row["size_x"], row["mean"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_title(domain)
        ax.set_xlabel("parameters (x plain network, ten domains)")
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"accuracy against parameters ({profile})")
    fig.tight_layout()
    if write:
        save_figure(fig, path or project_root() / "figures" / f"pareto_{profile}.png")
    return fig


def lora_claim(long: pd.DataFrame, ours: pd.DataFrame) -> tuple[str, str, str, str, list[Difference]] | None:
    """The claims-table row (`claims`' add arguments): the parallel adapters hold up against LoRA
    at equal budget: parallel - LoRA over the Table 1 domains, per replicate, above zero
    (criterion fixed before any result; the ImNet entry is the same plain network in both rows).
    S and the per-target wins are shown beside it, not judged."""
    rows = ours.set_index("model")
    if PARALLEL_ROW not in rows.index or LORA_ROW not in rows.index:
        return None
    par, lora = rows.loc[PARALLEL_ROW], rows.loc[LORA_ROW]
    if pd.isna(par["mean"]) or pd.isna(lora["mean"]):
        return None
    targets = [c for c in PAPER_COLUMNS if c != "ImNet" and c in rows.columns]
    wins = sum(bool(par[c] >= lora[c]) for c in targets if pd.notna(par[c]) and pd.notna(lora[c]))
    text = (f"{par['mean']:.2f} vs {lora['mean']:.2f} mean; S {par['S']:.0f} vs {lora['S']:.0f}; "
            f"parallel >= LoRA on {wins}/{len(targets)} targets (#par {par['params_x']} vs {lora['params_x']})")
    return ("Parallel adapters hold up against LoRA-conv (peft) at equal budget (not in the paper)",
            "not in the paper (LoRA: Hu et al. 2022)", "parallel mean > LoRA mean", text,
            [compare(long, "model", PARALLEL_ROW, LORA_ROW, margin=MARGIN)])


def budget_markdown(profiles: Sequence[str] = ("smoke", "mini", "full")) -> str:
    """The README's statement of the LoRA row's rank and exact multiplier at each profile, beside
    the parallel row's (computed from peft-built modules, `lora_budget`)."""
    lines = ["| profile | width | LoRA rank r | LoRA #par | parallel #par | LoRA / parallel params per domain |",
             "|---|--:|--:|--:|--:|--:|"]
    for name in profiles:
        settings = get_profile(name)
        b = lora_budget(settings.width, profile_classes(settings))
        lines.append(f"| {name} | {settings.width:g} | {b.rank} | x{b.multiplier:.4f} | x{b.parallel_multiplier:.4f} "
                     f"| {b.lora_per_domain:,} / {b.parallel_per_domain:,} |")
    return "\n".join(lines) + "\n"
