"""Glyphs, signs and human postures of the MiniDecathlon source.

Glyphs: symbols of DejaVu (currency, mathematics, card suits, music, marks) and Fraktur capitals
of STIX, both shipped with matplotlib; none is a letter of omniglot's scripts or an svhn digit,
and none looks like one (the test compares their bitmaps with omniglot's). Ink on paper, the
other way round from omniglot's white strokes on black.
Signs: plates that gtsrb does not have (square, rounded rectangle, shield, hexagon) carrying
pictograms that gtsrb does not have (telephone, bed, fuel pump, envelope, lock, battery).
Postures: still human figures (sitting, kneeling, lying, ...), not ucf101's motions between two
poses nor daimlerpedcls' walking pedestrians.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw

from paperlib.data.mini.canvas import polygon
from paperlib.data.mini.figures import JOINTS

# (character, fonts that draw it): DejaVu for the symbols, STIX for Fraktur
DEJAVU = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
STIX = ("STIXGeneral.ttf", "STIXGeneralBol.ttf")
SYMBOLS = "&@§¶€£¥%∞√∫∂♠♣♥♪∑∇⊕≈#©✓★"
FRAKTUR = "".join(chr(0x1D504 + k) for k in (0, 1, 3, 4, 5, 6, 9, 10))  # A B D E F G J K
GLYPHS = tuple((c, DEJAVU) for c in SYMBOLS) + tuple((c, STIX) for c in FRAKTUR)

PICTOGRAMS = ("telephone", "bed", "fuel-pump", "envelope", "lock", "battery")
# plate -> (fill RGB, ink RGB)
PLATES = MappingProxyType({
    "square": ((20, 70, 170), (245, 245, 245)),
    "rounded": ((20, 130, 60), (245, 245, 245)),
    "shield": ((240, 240, 235), (25, 25, 25)),
    "hexagon": ((240, 130, 20), (25, 25, 25)),
})

POSTURES = MappingProxyType({  # joint angles in radians, in the order of figures.JOINTS:
    #            torso, l_arm, l_fore, r_arm, r_fore, l_thigh, l_shin, r_thigh, r_shin
    "sitting": (0, .3, -1.2, .3, -1.2, -1.5, 1.5, -1.4, 1.5),
    "kneeling": (0, .1, 0, -.1, 0, -.1, 1.6, -1.4, 1.5),
    "arms-up": (0, 2.9, 0, -2.9, 0, .1, 0, -.1, 0),
    "t-pose": (0, 1.57, 0, -1.57, 0, .15, 0, -.15, 0),
    "squat": (.5, 1.4, 0, 1.4, 0, -1.7, 2.0, -1.6, 2.0),
    "lunge": (0, .2, -.3, -.2, -.3, -1.2, 1.2, .8, .2),
    "one-leg": (0, 1.2, 0, -1.2, 0, 0, 0, -.6, 1.8),
    "bow": (1.3, 1.5, 0, 1.3, 0, 0, 0, 0, 0),
    "handstand": (3.14, 2.95, 0, -2.95, 0, 2.95, 0, -2.95, 0),
    "pointing": (0, -1.57, 0, .1, -.2, .1, 0, -.1, 0),
    "hands-on-hips": (0, .8, -1.8, -.8, 1.8, .2, 0, -.2, 0),
    "star-jump": (0, 2.4, 0, -2.4, 0, .6, 0, -.6, 0),
    "lying": (1.57, -1.4, 0, -1.7, 0, -1.57, 0, -1.5, 0),
    "reaching": (-.2, -2.9, 0, .2, -.2, .1, 0, -.1, 0),
    "crouch": (.9, .5, -.5, .5, -.5, -1.2, 2.2, -1.0, 2.2),
    "thinking": (0, .2, -2.6, .5, -1.5, .05, 0, -.05, 0),
})


def _pictogram(d: ImageDraw.ImageDraw, name: str, c: float, s: float, ink) -> None:
    P = lambda x, y: (c + x * s, c + y * s)  # noqa: E731 -- unit to pixels
    w = max(1, int(.14 * s))
    if name == "telephone":
        d.rounded_rectangle([P(-.6, -.15), P(.6, .6)], radius=.15 * s, fill=ink)
        d.arc([P(-.7, -.75), P(.7, .35)], 190, 350, fill=ink, width=w * 2)
    elif name == "bed":
        d.rectangle([P(-.7, 0), P(.7, .3)], fill=ink)
        d.rectangle([P(-.75, -.5), P(-.6, .6)], fill=ink)
        d.rectangle([P(.6, -.1), P(.75, .6)], fill=ink)
        d.ellipse([P(-.5, -.35), P(-.2, -.05)], fill=ink)
    elif name == "fuel-pump":
        d.rectangle([P(-.55, -.65), P(.15, .65)], fill=ink)
        d.line([P(.15, -.3), P(.45, -.3), P(.45, .4), P(.6, .4), P(.6, -.5)], fill=ink, width=w)
    elif name == "envelope":
        d.rectangle([P(-.7, -.45), P(.7, .45)], outline=ink, width=w)
        d.line([P(-.7, -.45), P(0, .1), P(.7, -.45)], fill=ink, width=w)
    elif name == "lock":
        d.arc([P(-.38, -.75), P(.38, .05)], 180, 360, fill=ink, width=w * 2)
        d.line([P(-.34, -.35), P(-.34, -.05)], fill=ink, width=w * 2)
        d.line([P(.34, -.35), P(.34, -.05)], fill=ink, width=w * 2)
        d.rectangle([P(-.55, -.1), P(.55, .65)], fill=ink)
    elif name == "battery":
        d.rectangle([P(-.7, -.35), P(.6, .35)], outline=ink, width=w)
        d.rectangle([P(.6, -.15), P(.75, .15)], fill=ink)
        for k in range(3):
            d.rectangle([P(-.58 + .38 * k, -.22), P(-.32 + .38 * k, .22)], fill=ink)
    else:
        raise ValueError(name)


def draw_sign(plate: str, pictogram: str, n: int) -> Image.Image:
    """The sign on a transparent n x n canvas (RGBA), half-size ~0.45 n."""
    fill, ink = PLATES[plate]
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c, r = n / 2, .45 * n
    if plate == "square":
        d.rectangle([c - r, c - r, c + r, c + r], fill=fill, outline=(245, 245, 245), width=max(1, n // 30))
    elif plate == "rounded":
        d.rounded_rectangle([c - r, c - .75 * r, c + r, c + .75 * r], radius=.3 * r, fill=fill)
    elif plate == "shield":
        d.polygon([(c - r, c - r), (c + r, c - r), (c + r, c + .2 * r), (c, c + r), (c - r, c + .2 * r)],
                  fill=fill, outline=ink, width=max(1, n // 30))
    else:
        d.polygon(polygon(c, c, r, [k * math.pi / 3 for k in range(6)]), fill=fill)
    _pictogram(d, pictogram, c, .55 * r, ink)
    return img


def posture(name: str, r: np.random.Generator) -> dict:
    """A posture's joint angles, each moved a little (people never hold a pose exactly)."""
    return {j: a + r.normal(0, .12) for j, a in zip(JOINTS, POSTURES[name])}
