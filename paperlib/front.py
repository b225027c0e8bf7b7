"""LoRA-conv (peft) against the parallel adapters at equal budget, and the accuracy-parameters
front (issue 14; not in the paper): the Table 1 row's rank, the front's plan and sizes, its
figure and the claim.

Sizes are Table 1's "#par": the ten-domain network (imagenet12 and the nine targets, every domain
with its adapter) over the plain network of the source, measured on modules built at the run's
width and class counts (`report.size_column`). The class counts are the profile's own (the
MiniDecathlon's table at smoke / mini, the Decathlon's at full): they are known without reading
the data, so a plan stays a pure function of the study. They cannot change a rank (heads and
BNs are the same in every network compared; tests/test_lora.py).

The front, on the three transfer domains (ucf101, cifar100, svhn):
- parallel adapters, K = C (the Table 1 runs);
- joint SVD of the parallel adapters at K = C/4, C/2, 3C/4 (sec. 3.4; `experiments.svd_plan`,
  C/2 as rank None: the "Parallel SVD" runs themselves);
- LoRA at the largest ranks within the budgets of SVD K = C/4, SVD K = C/2 and the parallel
  adapters (`lora.rank_for_size`): each LoRA point has a partner of equal or larger size.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import pandas as pd

from . import experiments as ex
from .profiles import Profile

LORA_ROW = "LoRA-conv (peft)"
PARALLEL_ROW = "Parallel Res. adapt."
SVD_FRACTIONS = (0.25, None, 0.75)  # K = C/4, C/2 (None: the paper's default, the existing runs), 3C/4
SVD_NAMES = {0.25: "C/4", None: "C/2", 0.75: "3C/4"}


# ---------------------------------------------------------------- sizes and ranks


def profile_classes(settings: Profile) -> dict[str, int]:
    """domain -> classes of the profile's data (the MiniDecathlon's table or the Decathlon's)."""
    if settings.mini_scale is None:
        from .data.facts import decathlon_counts

        return {d: c["classes"] for d, c in decathlon_counts().items()}
    from .data.mini.generate import default_counts

    return {d: c.classes for d, c in default_counts().items()}


def _domains(classes: dict[str, int]) -> list[tuple[str, int]]:
    return [(d, classes[d]) for d in (ex.SOURCE, *ex.TARGETS)]


@functools.lru_cache(maxsize=8)
def _budgets(width: float, classes: tuple[tuple[str, int], ...]) -> dict[str, tuple[float, int | None]]:
    """name -> (size multiplier, LoRA rank or None) of every point of the front, from modules."""
    from .compress import compress_jointly
    from .lora import apply_lora, parallel_matched_rank, rank_for_size
    from .models import ResNet26, multi_domain_size, plain_reference

    domains = list(classes)
    reference = multi_domain_size(plain_reference(width, dict(classes)[ex.SOURCE]))
    row = parallel_matched_rank(domains, width=width)
    out: dict[str, tuple[float, int | None]] = {"parallel K = C": (row.parallel_multiplier, None)}
    svd_sizes = {}
    for fraction in SVD_FRACTIONS:
        parallel = ResNet26.build(domains, width=width, adapter="parallel")
        svd_sizes[fraction] = multi_domain_size(compress_jointly(parallel, rank=fraction, inplace=True)[0])
        out[f"SVD K = {SVD_NAMES[fraction]}"] = (svd_sizes[fraction] / reference, None)
    bare = ResNet26.build(domains, width=width)
    ranks = [rank_for_size(bare, svd_sizes[0.25]), rank_for_size(bare, svd_sizes[None]), row.rank]
    for r in ranks:
        size = multi_domain_size(apply_lora(ResNet26.build(domains, width=width), r))
        out[f"LoRA r = {r}"] = (size / reference, r)
    return out


def lora_budget(width: float, classes: dict[str, int]):
    """`lora.parallel_matched_rank` for the ten domains at `width` (the Table 1 row's r and multiplier)."""
    return _row_budget(width, tuple(_domains(classes)))


@functools.lru_cache(maxsize=8)
def _row_budget(width: float, domains: tuple[tuple[str, int], ...]):
    from .lora import parallel_matched_rank

    return parallel_matched_rank(list(domains), width=width)


def row_rank(study: ex.Study) -> int:
    """r of the `LoRA-conv (peft)` row at the study's width and class counts (computed, never typed)."""
    return lora_budget(study.settings.width, profile_classes(study.settings)).rank


def front_budgets(study: ex.Study) -> dict[str, tuple[float, int | None]]:
    """Every point of the front: name -> (size multiplier, LoRA rank or None)."""
    return _budgets(study.settings.width, tuple(_domains(profile_classes(study.settings))))


# ---------------------------------------------------------------- the plan


def front_plan(study: ex.Study, targets: Sequence[str] | None = None) -> list[tuple[dict, ex.TrainConfig]]:
    """The front's runs on `targets` (default: the profile's transfer domains): parallel, SVD at
    three K, LoRA at three ranks; labels: family, point (its name), size_x (the multiplier)."""
    targets = list(targets or study.settings.transfer_domains)
    budgets = front_budgets(study)
    labels = lambda name, family: {"family": family, "point": name, "size_x": budgets[name][0]}  # noqa: E731
    plan = [(labels("parallel K = C", "parallel"), c) for _, c in ex.table1_plan(study, [PARALLEL_ROW], targets)]
    for fraction in SVD_FRACTIONS:
        name = f"SVD K = {SVD_NAMES[fraction]}"
        # the joint SVD is over every target's adapters, as in Table 1; kept here: the front's domains
        plan += [(labels(name, "svd"), c) for _, c in ex.svd_plan(study, rank=fraction) if c.domains[0] in targets]
    plain = ex.pretrain_config(study)
    for name, (_, rank) in budgets.items():
        if rank is not None:
            plan += [(labels(name, "lora"), ex.adapt_config(study, "lora", d, plain, lora_rank=rank)) for d in targets]
    return plan


# ---------------------------------------------------------------- figure and claim


def pareto_figure(frame: pd.DataFrame, *, profile: str, path: str | os.PathLike | None = None, write: bool = True):
    """Accuracy against the size multiplier, one panel per domain, one line per family; written to
    `path` (default figures/pareto_<profile>.png in the project) unless `write` is False, and
    returned (a notebook shows it under the cell). frame: domain, family, point, size_x, accuracy
    (`front_plan`'s rows)."""
    import matplotlib.pyplot as plt

    from .plots import save_figure

    domains = list(dict.fromkeys(frame["domain"])) if len(frame) else []
    fig, axes = plt.subplots(1, max(1, len(domains)), figsize=(4 * max(1, len(domains)), 3.4), squeeze=False)
    style = {"parallel": ("tab:red", "o"), "svd": ("tab:green", "s"), "lora": ("tab:purple", "^")}
    for ax, domain in zip(axes[0], domains):
        here = frame[frame["domain"] == domain]
        for family, group in here.groupby("family", sort=False):
            group = group.sort_values("size_x")
            color, marker = style.get(family, ("black", "x"))
            ax.plot(group["size_x"], group["accuracy"], marker=marker, color=color, label=family)
            for _, row in group.iterrows():
                ax.annotate(row["point"].split(" ", 1)[1], (row["size_x"], row["accuracy"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_title(domain)
        ax.set_xlabel("parameters (x plain network, ten domains)")
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"accuracy against parameters ({profile})")
    fig.tight_layout()
    if write:
        save_figure(fig, path or ex.project_root() / "figures" / f"pareto_{profile}.png")
    return fig


def lora_claims(ours: pd.DataFrame) -> list[tuple[str, str, str, str, bool]]:
    """The claims-table row (`report.claims`' add arguments): the parallel adapters hold up against
    LoRA at equal budget iff the parallel row's Table 1 mean >= LoRA's (criterion fixed before any
    result; the ImNet entry is the same plain network in both rows). S and the per-target wins
    are shown beside it, not judged."""
    rows = ours.set_index("model")
    if PARALLEL_ROW not in rows.index or LORA_ROW not in rows.index:
        return []
    par, lora = rows.loc[PARALLEL_ROW], rows.loc[LORA_ROW]
    if pd.isna(par["mean"]) or pd.isna(lora["mean"]):
        return []
    targets = [c for c in rows.columns if c not in ("params_x", "mean", "S", "ImNet")]
    wins = sum(bool(par[c] >= lora[c]) for c in targets if pd.notna(par[c]) and pd.notna(lora[c]))
    text = (f"{par['mean']:.2f} vs {lora['mean']:.2f} mean; S {par['S']:.0f} vs {lora['S']:.0f}; "
            f"parallel >= LoRA on {wins}/{len(targets)} targets (#par {par['params_x']} vs {lora['params_x']})")
    return [("Parallel adapters hold up against LoRA-conv (peft) at equal budget (not in the paper)",
             "not in the paper (LoRA: Hu et al. 2022)", "parallel mean >= LoRA mean", text,
             bool(par["mean"] >= lora["mean"]))]


def budget_markdown(profiles: Sequence[str] = ("smoke", "mini", "full")) -> str:
    """The README's statement of the LoRA row's rank and exact multiplier at each profile, beside
    the parallel row's (computed from peft-built modules, `lora_budget`)."""
    from .profiles import get_profile

    lines = ["| profile | width | LoRA rank r | LoRA #par | parallel #par | LoRA / parallel params per domain |",
             "|---|--:|--:|--:|--:|--:|"]
    for name in profiles:
        settings = get_profile(name)
        b = lora_budget(settings.width, profile_classes(settings))
        lines.append(f"| {name} | {settings.width:g} | {b.rank} | x{b.multiplier:.4f} | x{b.parallel_multiplier:.4f} "
                     f"| {b.lora_per_domain:,} / {b.parallel_per_domain:,} |")
    return "\n".join(lines) + "\n"


__all__ = ["LORA_ROW", "budget_markdown", "front_budgets", "front_plan", "lora_budget", "lora_claims", "pareto_figure",
           "profile_classes", "row_rank"]
