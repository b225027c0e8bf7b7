"""The MiniDecathlon data sheet's numbers (data/README.md), written by code: the tree's counts and
the source/target size ratio at every profile, the source's table of families, and each target's
accuracy from scratch (`baseline`). Notebook 00 refreshes them for the mini profile, so a change
of the generator cannot leave the sheet behind."""

from __future__ import annotations

from pathlib import Path

from paperlib.core.readme_blocks import update_readme
from paperlib.data.facts import decathlon_counts
from paperlib.data.mini.baseline import baseline_markdown
from paperlib.data.mini.counts import resolve_counts
from paperlib.data.mini.source import size_ratio, source_sheet, train_images, tree_summary


def profile_ratios(scales: dict[str, float]) -> str:
    """The size principle at each profile: source training images against the largest target's."""
    parts = []
    for name, scale in scales.items():
        counts = resolve_counts(scale)
        train = train_images(counts)
        largest = max((d for d in train if d != "imagenet12"), key=train.get)
        parts.append(f"{name} (scale {scale:g}): {train['imagenet12']:,} vs {largest} {train[largest]:,}, "
                     f"{size_ratio(counts):.1f}x")
    real = {d: c["train"] for d, c in decathlon_counts().items()}
    largest = max((d for d in real if d != "imagenet12"), key=real.get)
    return (f"At the profiles' scales (`size_ratio(resolve_counts(scale))`): {'; '.join(parts)}. The full "
            f"profile uses ImageNet itself: {real['imagenet12']:,} vs {largest} {real[largest]:,}, "
            f"{real['imagenet12'] / real[largest]:.1f}x.")


def write_scratch_baseline(readme: str | Path, accuracy: dict[str, float], *, scale: float) -> Path:
    """The sheet's from-scratch block (`baseline.scratch_baselines` of the series' own cache)."""
    counts = resolve_counts(scale)
    update_readme(readme, "scratch-baseline", baseline_markdown(accuracy, {d: counts[d].classes for d in accuracy}))
    return Path(readme)


def seeds_sentence(seeds: dict[str, tuple[int, ...]]) -> str:
    """The sheet's replicates block: profile -> the seeds of its replicates."""
    return "; ".join(f"{name}: {len(s)} replicate{'s' if len(s) > 1 else ''} (seed{'s' if len(s) > 1 else ''} "
                     f"{', '.join(map(str, s))})" for name, s in seeds.items()) + \
        "; each pretrains its own source networks.\n"


def write_data_sheet(readme: str | Path, *, scale: float, scales: dict[str, float],
                     seeds: dict[str, tuple[int, ...]]) -> Path:
    """Refresh the generated blocks of the data sheet for a tree generated at `scale`; `seeds`:
    profile -> the seeds of its replicates."""
    counts = resolve_counts(scale)
    update_readme(readme, "tree-summary", tree_summary(counts))
    update_readme(readme, "source-sheet", source_sheet(counts))
    update_readme(readme, "profile-ratios", profile_ratios(scales))
    update_readme(readme, "seeds", seeds_sentence(seeds))
    return Path(readme)
