"""omniglot and svhn of the MiniDecathlon: characters rendered from fonts shipped with matplotlib.

omniglot (docs/authors_code.md: 1623 characters of 50 alphabets, ~11 drawings each; mean .08, i.e. white
strokes on black): letters of the scripts that matplotlib's DejaVu Sans covers (Greek, Cyrillic,
Armenian, Georgian, Hebrew, Arabic, Canadian syllabics, Tifinagh, N'Ko, Lisu, Ogham, Lao, ...),
deduplicated by their rendered bitmap, interleaved across scripts; each image is one "drawer":
another DejaVu style, stroke weight, rotation, shear, scale and position.
svhn (10 digits; centre crop only): a house-number digit in the centre, in one of several fonts
and colours, with the neighbouring digits of the number cut by the image border, on a plate with
texture, blur and uneven light.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paperlib.data.mini.canvas import SS, Family, finish, font_dir, hsv, load_font, smooth_noise, too_many

SCRIPTS = ("GREEK", "CYRILLIC", "ARMENIAN", "GEORGIAN", "HEBREW", "ARABIC", "CANADIAN", "TIFINAGH",
           "NKO", "LISU", "OGHAM", "LAO", "COPTIC", "RUNIC", "CHEROKEE", "GLAGOLITIC", "OLD")
STYLES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
          "DejaVuSansMono.ttf", "DejaVuSerif-Bold.ttf")


def _cmap(name: str) -> set[int]:
    from fontTools.ttLib import TTFont  # a matplotlib dependency, so always installed

    return set(TTFont(str(font_dir() / name), lazy=True)["cmap"].getBestCmap())


def _shape_key(ch: str, font) -> bytes | None:
    """The glyph's ink cropped to its box, at 10 x 10, binarised: near-duplicate letters (and
    letters that differ only in size, which the scale jitter would confuse) share a key."""
    img = glyph_layer(ch, font, 48)
    box = img.getbbox()
    if box is None:
        return None
    small = np.asarray(img.crop(box).resize((10, 10), Image.BILINEAR)) > 100
    return np.packbits(small).tobytes()


def omniglot_characters(limit: int) -> list[str]:
    """Distinct-looking letters of non-Latin scripts, round-robin over the scripts."""
    covered = _cmap("DejaVuSans.ttf")
    font = load_font("DejaVuSans.ttf", 32)
    by_script: dict[str, list[str]] = {s: [] for s in SCRIPTS}
    seen: set[bytes] = set()
    for cp in sorted(covered):
        ch = chr(cp)
        if unicodedata.category(ch) not in ("Lu", "Ll", "Lo"):
            continue
        script = unicodedata.name(ch, "?").split()[0]
        if script not in by_script:
            continue
        key = _shape_key(ch, font)
        if key is None or key in seen:  # looks like another letter (Cyrillic A = Greek Alpha)
            continue
        seen.add(key)
        by_script[script].append(ch)
    out: list[str] = []
    for i in range(max(len(v) for v in by_script.values())):
        out += [v[i] for v in by_script.values() if i < len(v)]
    return out[:limit]


def glyph_layer(ch: str, font, n: int) -> Image.Image:
    """White glyph on black (an 'L' mask), centred on its bounding box, n x n."""
    img = Image.new("L", (n, n), 0)
    d = ImageDraw.Draw(img)
    box = d.textbbox((0, 0), ch, font=font)
    d.text(((n - box[2] - box[0]) / 2, (n - box[3] - box[1]) / 2), ch, fill=255, font=font)
    return img


def build_omniglot(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    chars = omniglot_characters(num_classes)
    too_many("omniglot", num_classes, len(chars))
    big = size * SS
    styles = [(s, _cmap(s)) for s in STYLES]
    fonts = {(s, px): load_font(s, px) for s, _ in styles for px in range(int(big * .45), int(big * .72), 2)}
    sizes = sorted({px for _, px in fonts})

    def render(label: int, r: np.random.Generator) -> Image.Image:
        ch = chars[label]
        usable = [s for s, cov in styles if ord(ch) in cov]
        style = usable[int(r.integers(len(usable)))]
        img = glyph_layer(ch, fonts[(style, sizes[int(r.integers(len(sizes)))])], big)
        if r.random() < .4:  # a heavier pen
            img = img.filter(ImageFilter.MaxFilter(3))
        sh, rot = r.normal(0, .15), r.normal(0, 10)
        dx, dy = r.normal(0, big * .05, 2)
        img = img.transform(img.size, Image.AFFINE, (1, sh, -sh * big / 2 - dx, 0, 1, -dy),
                            Image.BILINEAR).rotate(rot, Image.BILINEAR)
        return finish(img.convert("RGB"), r, noise=.02, grayscale=True)

    names = tuple(unicodedata.name(c).lower().replace(" ", "-") for c in chars)
    return Family(names, render, grayscale=True)


SVHN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSans-Oblique.ttf",
              "DejaVuSerif-BoldItalic.ttf", "DejaVuSansDisplay.ttf")


def build_svhn(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    too_many("svhn", num_classes, 10)
    big = size * SS
    pxs = list(range(int(big * .6), int(big * .95), 4))
    fonts = [[load_font(f, px) for px in pxs] for f in SVHN_FONTS[:-1]]

    def render(label: int, r: np.random.Generator) -> Image.Image:
        plate = hsv(r.random(), r.uniform(0, .6), r.uniform(.15, .95))
        # the ink contrasts with the plate in value, at any hue
        ink = hsv(r.random(), r.uniform(0, .8), 1 - plate[2] * r.uniform(.6, 1) if r.random() < .9
                  else r.uniform(0, 1))
        canvas = plate * (.8 + .4 * smooth_noise(r, big, big, int(r.integers(2, 8)), 1))
        img = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        font = fonts[int(r.integers(len(fonts)))][int(r.integers(len(pxs)))]
        cx, cy = big / 2 + r.normal(0, big * .04), big / 2 + r.normal(0, big * .05)
        left = d.textbbox((0, 0), str(label), font=font)
        gap = (left[2] - left[0]) * r.uniform(1.05, 1.35)
        col = tuple(int(c * 255) for c in ink)
        for k in (-1, 0, 1):  # neighbours of the house number, when it has some
            if k and r.random() < .35:
                continue
            digit = str(label) if k == 0 else str(int(r.integers(10)))
            d.text((cx + k * gap, cy), digit, fill=col, font=font, anchor="mm")
        img = img.rotate(r.normal(0, 5), Image.BILINEAR, fillcolor=tuple(int(c * 255) for c in plate))
        img = img.filter(ImageFilter.GaussianBlur(r.uniform(0, 1.6)))
        light = np.asarray(img, np.float32) / 255 * (.6 + .6 * smooth_noise(r, big, big, 3, 1))
        return finish(light, r, noise=.03)

    return Family(tuple(str(d) for d in range(num_classes)), render)
