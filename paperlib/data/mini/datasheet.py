"""The MiniDecathlon data sheet's numbers (data/README.md), written by code: the tree's counts and
the source/target size ratio at every profile, the source's table of families, and each target's
accuracy from scratch (`baseline`). Notebook 00 refreshes them for the mini profile, so a change
of the generator cannot leave the sheet behind."""

from __future__ import annotations

from pathlib import Path

from ..facts import decathlon_counts
from .generate import resolve_counts
from .source import size_ratio, source_sheet, train_images, tree_summary


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
    from ...readme_blocks import update_readme
    from .baseline import baseline_markdown

    counts = resolve_counts(scale)
    update_readme(readme, "scratch-baseline", baseline_markdown(accuracy, {d: counts[d].classes for d in accuracy}))
    return Path(readme)


def write_data_sheet(readme: str | Path, *, scale: float, scales: dict[str, float]) -> Path:
    """Refresh the generated blocks of the data sheet for a tree generated at `scale`."""
    from ...readme_blocks import update_readme

    counts = resolve_counts(scale)
    update_readme(readme, "tree-summary", tree_summary(counts))
    update_readme(readme, "source-sheet", source_sheet(counts))
    update_readme(readme, "profile-ratios", profile_ratios(scales))
    return Path(readme)
