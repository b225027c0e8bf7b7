"""imagenet12 of the MiniDecathlon: the pretraining source, built on the principles of the data sheet.

ImageNet (docs/authors_code.md: 1000 classes, 1.2M images) is large, broad and disjoint from the
targets' classes. The mini source follows it (data/README.md, "The source domain: principles"):
a table of class definitions (family, kind, variant) spanning the eight families of content the
generator can draw, in fixed proportions; every kind is one that no target has (``target_kinds``
lists theirs, and a test checks the two are disjoint); a variant's proportions and colours come
from (seed, class), every image from (seed, split, index), as for the other domains.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paperlib.data.mini.canvas import (
    SS,
    Family,
    finish,
    hsv,
    load_font,
    paste,
    random_perspective,
    rgb255,
    to_array,
    to_image,
    too_many,
    transform_points,
)
from paperlib.data.mini.figures import PROPS, skeleton
from paperlib.data.mini.flowers import PETALS
from paperlib.data.mini.glyphs import _cmap as _coverage
from paperlib.data.mini.glyphs import glyph_layer
from paperlib.data.mini.objects import STRUCTURES
from paperlib.data.mini.scenes import LAYOUTS, LIGHTS, TEXTURES, clutter, draw_scene, draw_texture
from paperlib.data.mini.signs import SIGNS
from paperlib.data.mini.symbols import GLYPHS, PICTOGRAMS, PLATES, POSTURES, draw_sign, posture
from paperlib.data.mini.textures import PATTERNS
from paperlib.data.mini.things import ANIMALS, OBJECTS, PLANTS, VEHICLES, parts_of
from paperlib.data.mini.vehicles import FAMILIES as PLANFORMS

VARIANTS = 4  # variants of each part-based structure and colourways of each texture
# family -> its kinds and how many classes each kind gives; the proportions follow from these
FAMILIES = MappingProxyType({
    "objects and animals": tuple((k, VARIANTS) for k in ANIMALS + OBJECTS),
    "vehicles": tuple((k, VARIANTS) for k in VEHICLES),
    "plants and flowers": tuple((k, VARIANTS) for k in PLANTS),
    "textures": tuple((k, VARIANTS) for k in TEXTURES),
    "glyphs and symbols": tuple((c, 1) for c, _ in GLYPHS),
    "pictograms and signs": tuple((f"{p}-{q}", 1) for q in PLATES for p in PICTOGRAMS),
    "human figures": tuple((k, 1) for k in POSTURES),
    "scenes": tuple((f"{layout}-{light}", 1) for layout in LAYOUTS for light in LIGHTS),
})


@dataclass(frozen=True)
class SourceClass:
    """One class of the source: what it shows (family, kind) and which variant of it."""

    family: str
    kind: str
    variant: int

    @property
    def name(self) -> str:
        kind = self.kind if self.kind.isascii() else unicodedata.name(self.kind).lower().replace(" ", "-")
        return f"{kind}-{self.variant}" if dict(FAMILIES[self.family])[self.kind] > 1 else kind


def source_classes() -> tuple[SourceClass, ...]:
    """Every source class, interleaved so that the first n spread over the families in proportion:
    class j of a family with m classes sits at j / m, families in table order on ties (so the
    first eight are one of each family)."""
    keyed = []
    for f, (family, kinds) in enumerate(FAMILIES.items()):
        flat = [SourceClass(family, kind, v) for kind, n in kinds for v in range(n)]
        keyed += [(j / len(flat), f, c) for j, c in enumerate(flat)]
    return tuple(c for _, _, c in sorted(keyed, key=lambda t: t[:2]))


def family_counts(classes=None) -> dict[str, int]:
    out = {family: 0 for family in FAMILIES}
    for c in classes or source_classes():
        out[c.family] += 1
    return out


# ---- the targets' classes, for the disjointness check --------------------------------------

def target_kinds() -> dict[str, frozenset[str]]:
    """What each target's classes are made of, as the names its drawing module uses."""
    gtsrb = {n for name, plate, symbol in SIGNS for n in (name, plate, symbol.partition(":")[2])}
    return {"aircraft": frozenset(PLANFORMS), "cifar100": frozenset(STRUCTURES),
            "daimlerpedcls": frozenset({"pedestrian", "walking"}), "dtd": frozenset(PATTERNS),
            "gtsrb": frozenset(gtsrb - {"none"}), "svhn": frozenset("0123456789"),
            "ucf101": frozenset(PROPS) - {"none"} | {"action", "motion"},
            "vgg-flowers": frozenset(PETALS) | {"flower", "radial-flower"}}


def source_kinds() -> frozenset[str]:
    """Every name a source class is made of: kinds, and a sign's plate and pictogram apart."""
    names = {c.kind for c in source_classes()} | set(PLATES) | set(PICTOGRAMS)
    return frozenset(names | set(LAYOUTS) | set(LIGHTS))


# ---- sizes --------------------------------------------------------------------------------

def train_images(counts) -> dict[str, int]:
    """Training images per domain for a table of MiniCounts."""
    return {d: c.classes * c.train for d, c in counts.items()}


def size_ratio(counts) -> float:
    """Source training images over the largest target's (the size principle asks >= 20)."""
    train = train_images(counts)
    return train["imagenet12"] / max(v for d, v in train.items() if d != "imagenet12")


def tree_summary(counts) -> str:
    """The data sheet's sentence on the counts of the whole tree (images, files)."""
    train = train_images(counts)
    targets = sum(v for d, v in train.items() if d != "imagenet12")
    images = sum(c.classes * (c.train + c.val + c.test) for c in counts.values())
    files = images + 4 * len(counts) + 1  # train, val, test and stripped test annotations; mini.json
    return (f"{targets:,} training images over the nine targets, {train['imagenet12']:,} for imagenet12 "
            f"({size_ratio(counts):.1f}x the largest target), {images:,} images and {files:,} files in all.")


def _kinds_text(family: str, classes: list[SourceClass]) -> str:
    kinds = list(dict.fromkeys(c.kind for c in classes))
    if family == "glyphs and symbols":
        return " ".join(kinds)
    if family in ("pictograms and signs", "scenes"):
        pairs = [k.rsplit("-", 1) for k in kinds]
        first, second = list(dict.fromkeys(a for a, _ in pairs)), list(dict.fromkeys(b for _, b in pairs))
        return f"{', '.join(first)} x {', '.join(second)}"
    per = f" ({VARIANTS} variants each)" if family != "human figures" else ""
    per = f" ({VARIANTS} colourways each)" if family == "textures" else per
    return ", ".join(kinds) + per


def source_sheet(counts) -> str:
    """The data sheet's table of the source's families (markdown) and its size ratio."""
    per_class, classes = counts["imagenet12"].train, source_classes()[:counts["imagenet12"].classes]
    fams = family_counts(classes)
    rows = ["| family | kinds | classes | share | train images |", "|---|---|---:|---:|---:|"]
    for family, n in fams.items():
        rows.append(f"| {family} | {_kinds_text(family, [c for c in classes if c.family == family])} | {n} "
                    f"| {100 * n / len(classes):.1f}% | {n * per_class:,} |")
    train = train_images(counts)
    largest = max((d for d in train if d != "imagenet12"), key=train.get)
    rows.append(f"\n{len(classes)} classes, {train['imagenet12']:,} training images: "
                f"{size_ratio(counts):.1f}x the largest target's ({largest}, {train[largest]:,}).")
    return "\n".join(rows)


# ---- drawing -------------------------------------------------------------------------------

def _draw_thing(c: SourceClass, v: np.ndarray, r: np.random.Generator, big: int) -> np.ndarray:
    """A part-based drawing (animal, object, vehicle, plant) on a cluttered background."""
    canvas = clutter(r, big)
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    upright = c.family != "objects and animals" or c.kind in ("cup", "lamp", "chair", "bottle")
    scale = big * r.uniform(.3, .42)
    rot = r.normal(0, .1) if upright else r.uniform(-math.pi, math.pi) * .4
    cx, cy = big / 2 + r.normal(0, big * .06, 2)
    colours = [rgb255(hsv(v[4 + k] + r.normal(0, .02), .3 + .6 * v[7 + k % 2] + r.normal(0, .05),
                          .35 + .6 * v[9 + k % 2] * r.uniform(.85, 1.1))) for k in range(3)]
    for points, slot, width in parts_of(c.family, c.kind, .7 + .6 * v[:4] * r.normal(1, .04, 4), int(v[11] > .5)):
        xy = transform_points(points, cx, cy, scale, rot)
        if width:
            draw.line(xy, fill=colours[slot], width=max(1, int(width * scale)), joint="curve")
        else:
            draw.polygon(xy, fill=colours[slot])
    if r.random() < .5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_array(img.filter(ImageFilter.BoxBlur(r.uniform(.3, 1.0))))


def _draw_glyph(c: SourceClass, fonts: dict, r: np.random.Generator, big: int) -> np.ndarray:
    """A symbol in ink on paper, a sticker or a screen: any colours, slight turn and shear."""
    paper = hsv(r.random(), r.uniform(0, .5), r.uniform(.55, 1))
    ink = hsv(r.random(), r.uniform(0, 1), r.uniform(0, .35) if paper[2] > .5 else r.uniform(.8, 1))
    canvas = paper * (.8 + .3 * np.asarray(clutter(r, big, [(1, 1, 1), (.8, .8, .8)])))
    options = fonts[c.kind]
    layer = glyph_layer(c.kind, options[int(r.integers(len(options)))], big)
    sh = r.normal(0, .12)
    layer = layer.transform(layer.size, Image.AFFINE, (1, sh, -sh * big / 2 + r.normal(0, big * .05), 0, 1,
                                                       r.normal(0, big * .05)), Image.BILINEAR)
    paste(canvas, layer.rotate(r.normal(0, 12), Image.BILINEAR), ink)
    return canvas


def _draw_sign(sign: Image.Image, r: np.random.Generator, big: int) -> np.ndarray:
    canvas = clutter(r, big)
    s = random_perspective(sign, r, .07).rotate(r.normal(0, 6), Image.BILINEAR)
    side = int(big * r.uniform(.55, .9))
    rgba = to_array(s.resize((side, side), Image.BILINEAR))
    x, y = (big - side) // 2 + r.integers(-big // 10, big // 10 + 1, 2)
    layer = np.zeros((big, big, 4), np.float32)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, big), min(y + side, big)
    layer[y0:y1, x0:x1] = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
    a = layer[..., 3:]
    return (canvas * (1 - a) + layer[..., :3] * a) * r.uniform(.5, 1.15)


def _draw_person(c: SourceClass, r: np.random.Generator, big: int) -> np.ndarray:
    """A still person in clothes (shirt, trousers, skin) holding a posture, on a background."""
    canvas = draw_scene(("room", "field", "road")[int(r.integers(3))], "day", r, big) if r.random() < .5 \
        else clutter(r, big)
    img = to_image(canvas)
    d = ImageDraw.Draw(img)
    angles = posture(c.kind, r)
    scale = big * r.uniform(.2, .26)
    lying = c.kind in ("lying", "handstand")
    segs, head = skeleton(angles, scale, big / 2 + r.normal(0, big * .05),
                          big * (.62 if lying else .5) + r.normal(0, big * .04))
    shirt = rgb255(hsv(r.random(), r.uniform(.3, 1), r.uniform(.3, 1)))
    trousers = rgb255(hsv(r.random(), r.uniform(0, .7), r.uniform(.1, .7)))
    skin = rgb255(hsv(r.uniform(.03, .1), r.uniform(.3, .6), r.uniform(.35, .95)))
    for k, (a, b, w) in enumerate(segs):
        d.line([a, b], fill=trousers if k in (3, 4, 7, 8) else shirt, width=max(1, int(w * scale * 1.1)))
    rh = .2 * scale
    d.ellipse([head[0] - rh, head[1] - rh, head[0] + rh, head[1] + rh], fill=skin)
    if r.random() < .5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_array(img.filter(ImageFilter.BoxBlur(r.uniform(.2, .8))))


def build_imagenet12(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    classes = source_classes()
    too_many("imagenet12", num_classes, len(classes))
    chosen = classes[:num_classes]
    variants = rng.random((num_classes, 12))  # per class: proportions, hues, saturations, values, option
    big = size * SS
    sizes = range(int(big * .5), int(big * .8), 4)
    files = {f for _, names in GLYPHS for f in names}
    coverage = {f: _coverage(f) for f in files}
    loaded = {(f, px): load_font(f, px) for f in files for px in sizes}  # shared by the glyphs
    fonts = {ch: [loaded[(f, px)] for f in names if ord(ch) in coverage[f] for px in sizes]
             for ch, names in GLYPHS if any(c.kind == ch for c in chosen)}
    signs = {c.kind: draw_sign(c.kind.rsplit("-", 1)[1], c.kind.rsplit("-", 1)[0], big)
             for c in chosen if c.family == "pictograms and signs"}
    texture_colours = {k: np.stack([hsv(v[4], .2 + .7 * v[7], .15 + .4 * v[9]),  # dark and light
                                    hsv(v[5], .2 + .7 * v[8], .55 + .45 * v[10])])
                       for k, v in enumerate(variants)}

    def render(label: int, r: np.random.Generator) -> Image.Image:
        c = chosen[label]
        if c.family in ("objects and animals", "vehicles", "plants and flowers"):
            canvas = _draw_thing(c, variants[label], r, big)
        elif c.family == "textures":
            canvas = draw_texture(c.kind, texture_colours[label], r, big)
        elif c.family == "glyphs and symbols":
            canvas = _draw_glyph(c, fonts, r, big)
        elif c.family == "pictograms and signs":
            canvas = _draw_sign(signs[c.kind], r, big)
        elif c.family == "human figures":
            canvas = _draw_person(c, r, big)
        else:
            canvas = draw_scene(*c.kind.rsplit("-", 1), r, big)
        return finish(canvas * r.uniform(.85, 1.1), r, noise=.03)

    return Family(tuple(c.name for c in chosen), render)
