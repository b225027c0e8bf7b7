"""The MiniDecathlon source (imagenet12) against the principles of data/README.md: disjoint from
the targets, 20x the largest target at every profile, broad, and rendered deterministically."""

import hashlib
import io

import numpy as np
import pytest

from paperlib.data.facts import decathlon_counts
from paperlib.data.mini.canvas import load_font
from paperlib.data.mini.counts import default_counts, resolve_counts
from paperlib.data.mini.glyphs import _cmap, _shape_key, omniglot_characters
from paperlib.data.mini.source import (
    FAMILIES,
    build_imagenet12,
    family_counts,
    size_ratio,
    source_classes,
    source_kinds,
    source_sheet,
    target_kinds,
)
from paperlib.data.mini.symbols import GLYPHS
from paperlib.train.profiles import get_profile

PRINCIPLE_FAMILIES = {"objects and animals", "vehicles", "plants and flowers", "textures", "glyphs and symbols",
                      "pictograms and signs", "human figures", "scenes"}


def test_no_source_class_is_a_target_class():
    targets = target_kinds()
    for domain, kinds in targets.items():
        assert kinds and not kinds & source_kinds(), domain
    assert "dtd" in targets and "gtsrb" in targets and "cifar100" in targets


def test_source_glyphs_are_no_omniglot_letter_or_digit_not_even_in_looks():
    """Other alphabets than omniglot's and svhn's: other code points and other bitmaps."""
    letters = omniglot_characters(10 ** 6)  # every letter the omniglot family can draw
    sans = load_font("DejaVuSans.ttf", 32)
    taken = {_shape_key(c, sans) for c in letters + list("0123456789")}
    for ch, fonts in GLYPHS:
        assert ch not in letters and not ch.isdigit()
        font = load_font(next(f for f in fonts if ord(ch) in _cmap(f)), 32)
        assert _shape_key(ch, font) not in taken, ch


@pytest.mark.parametrize("profile", ["smoke", "mini"])
def test_source_is_20x_the_largest_target_at_every_profile(profile):
    counts = resolve_counts(get_profile(profile).mini_scale)  # what generate_mini writes
    assert size_ratio(counts) >= 20


def test_source_size_at_default_counts_and_in_the_real_decathlon():
    counts = default_counts()
    assert counts["imagenet12"].classes * counts["imagenet12"].train >= 50_000
    real = decathlon_counts()  # the full profile: ImageNet itself
    assert real["imagenet12"]["train"] >= 20 * max(v["train"] for d, v in real.items() if d != "imagenet12")


def test_breadth_every_family_in_the_default_classes():
    n = default_counts()["imagenet12"].classes
    classes = source_classes()
    assert n >= 200 and len(classes) >= n and len(set(classes)) == len(classes)
    assert set(FAMILIES) == PRINCIPLE_FAMILIES
    assert all(k > 0 for k in family_counts(classes[:n]).values())
    assert {c.family for c in classes[:8]} == PRINCIPLE_FAMILIES  # so any subset of 8+ is broad too
    assert len({c.name for c in classes}) == len(classes)


def _render_all(seed: int, n: int = 16) -> list[bytes]:
    family = build_imagenet12(n, np.random.default_rng([seed, 6, 0]), 36)
    out = []
    for label in range(n):
        buf = io.BytesIO()
        family.render(label, np.random.default_rng([seed, 6, 1, label])).save(buf, "JPEG", quality=90)
        out.append(hashlib.sha256(buf.getvalue()).digest())
    return out


def test_rendering_is_deterministic_and_depends_on_the_seed():
    a, b, c = _render_all(0), _render_all(0), _render_all(1)
    assert a == b
    assert all(x != y for x, y in zip(a, c))


def test_parallel_rendering_writes_the_same_files(tmp_path, monkeypatch):
    from paperlib.data.mini.parallel import render_split

    monkeypatch.setattr("paperlib.data.mini.parallel.CHUNK", 3)  # several tasks for a few images

    class Bar:
        def update(self, n):
            pass

    labels = [0, 5, 9, 2, 7, 1, 3]
    digests = []
    for workers in (1, 2):
        tree = tmp_path / str(workers)
        (tree / "data" / "imagenet12" / "train").mkdir(parents=True)
        sizes = render_split(tree, "imagenet12", 10, 0, 36, "train", 1, labels, 90, workers, Bar())
        assert sizes == [(36, 36)] * len(labels)
        digests.append([hashlib.sha256(p.read_bytes()).digest()
                        for p in sorted((tree / "data" / "imagenet12" / "train").iterdir())])
    assert digests[0] == digests[1] and len(digests[0]) == len(labels)


def test_source_sheet_is_computed_from_the_counts():
    counts = default_counts()
    sheet = source_sheet(counts)
    for family, n in family_counts(source_classes()[:counts["imagenet12"].classes]).items():
        assert f"| {family} |" in sheet and f"| {n} |" in sheet
    assert f"{size_ratio(counts):.1f}x" in sheet


def test_the_data_sheet_shows_what_the_generator_counts(tmp_path):
    """data/README.md's generated blocks (counts, size ratios, the source's families) are what
    notebook 00 writes from the generator's counts at the mini profile: rewriting changes nothing."""
    import shutil
    from pathlib import Path

    from paperlib.data.mini.datasheet import write_data_sheet
    from paperlib.train.profiles import get_profile

    sheet = Path(__file__).resolve().parents[1] / "data" / "README.md"
    copy = shutil.copy(sheet, tmp_path / "README.md")
    scales = {name: get_profile(name).mini_scale for name in ("smoke", "mini")}
    seeds = {name: (0, 1) if name == "smoke" else (0, 1, 2) for name in ("smoke", "mini")}  # Profile.replicates
    write_data_sheet(copy, scale=get_profile("mini").mini_scale, scales=scales, seeds=seeds)
    assert Path(copy).read_text() == sheet.read_text()
    assert "20.5x" in sheet.read_text()
