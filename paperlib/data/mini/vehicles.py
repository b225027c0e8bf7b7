"""aircraft of the MiniDecathlon: fine-grained aircraft planforms against sky or tarmac.

FGVC-Aircraft (docs/authors_code.md: 100 model variants, ~33 train images each) is fine-grained: variants
of one family differ in length, wing sweep or engine count. Here a class is a variant of one of
six families (airliner, regional, business jet, propeller, fighter, delta): the family fixes the
layout, the variant moves a few proportions. Each image changes the heading, the viewing angle
(foreshortening the wingspan), the livery colours and the background.
Images are 4:3, as aircraft photos are wider than tall.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw

from paperlib.data.mini.canvas import SS, Family, finish, gradient, hsv, jitter, rgb255, smooth_noise, to_image

FAMILIES = ("airliner", "regional", "bizjet", "propeller", "fighter", "delta")
# per family: (fuselage length, width, wing position, root chord, half span, sweep deg, taper,
#              tail span, engines under wings, rear engines)
BASE = MappingProxyType({
    "airliner": (1.9, .17, .05, .45, .95, 30, .3, .38, 2, 0),
    "regional": (1.6, .14, .0, .35, .8, 5, .5, .3, 2, 0),
    "bizjet": (1.4, .12, -.15, .3, .65, 25, .4, .28, 0, 2),
    "propeller": (1.3, .12, .15, .25, .85, 0, .7, .28, 0, 0),
    "fighter": (1.7, .14, -.3, .6, .55, 40, .25, .3, 0, 0),
    "delta": (1.6, .13, -.35, 1.0, .6, 55, .05, 0, 0, 0),
})
SPREAD = (.25, .035, .1, .08, .16, 11, .14, .08)  # how far a variant moves each number


def _wing(x: float, root: float, span: float, sweep: float, taper: float, side: int):
    le = x + root / 2
    tip = le - span * math.tan(math.radians(sweep))
    return [(le, 0), (tip, side * span), (tip - root * taper, side * span), (x - root / 2, 0)]


def _plane(v: dict) -> list[tuple[list, int]]:
    """Polygons (unit coords, nose to +x) with a colour slot: 0 body, 1 wings, 2 engines, 3 tail."""
    L, fw, wx, root, span, sweep, taper, tail = v["numbers"]
    parts = []
    t = np.linspace(-math.pi / 2, math.pi / 2, 9)
    nose = [(L / 2 - fw * (1.6 if v["pointed"] else .8) * (1 - math.cos(a)), fw / 2 * math.sin(a)) for a in t]
    for side in (1, -1):
        parts.append((_wing(wx, root, span, sweep, taper, side), 1))
        if tail > 0:
            parts.append((_wing(-L / 2 + .15, .25, tail, sweep * .8, .5, side), 3))
        if v["canard"]:
            parts.append((_wing(L / 4, .15, .25, 30, .4, side), 1))
        for k in range(v["engines"] // 2 if v["engines"] else 0):
            y = side * span * (.35 + .3 * k)
            x = wx + root / 2 - y * side * math.tan(math.radians(sweep)) + .05
            parts.append(([(x + .12, y - .05), (x + .12, y + .05), (x - .12, y + .05),
                           (x - .12, y - .05)], 2))
        for _ in range(v["rear"] // 2):
            x = -L / 2 + .35
            parts.append(([(x + .12, side * fw * .5), (x + .12, side * (fw * .5 + .1)),
                           (x - .12, side * (fw * .5 + .1)), (x - .12, side * fw * .5)], 2))
    body = [(-L / 2, -fw / 3), (L / 2 - fw, -fw / 2)] + nose + [(L / 2 - fw, fw / 2), (-L / 2, fw / 3)]
    parts.append((body, 0))
    if v["propeller"]:
        parts.append(([(L / 2 + .02, -.25), (L / 2 + .06, -.25), (L / 2 + .06, .25), (L / 2 + .02, .25)], 2))
    return parts


def build_aircraft(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    variants = []
    for k in range(num_classes):  # class k is a variant of family k % 6
        family = FAMILIES[k % len(FAMILIES)]
        base = BASE[family]
        numbers = np.array(base[:8], float) + rng.normal(0, 1, 8) * np.array(SPREAD)
        numbers[7] = max(numbers[7], 0) if base[7] else 0
        engines = base[8] if rng.random() < .6 else (4 if base[8] == 2 else base[8])
        variants.append(dict(family=family, numbers=numbers, engines=engines, rear=base[9],
                             pointed=family in ("fighter", "delta") or rng.random() < .3,
                             canard=family == "delta" and rng.random() < .5,
                             propeller=family == "propeller"))
    h, w = size * SS, size * 4 // 3 * SS

    def render(label: int, r: np.random.Generator) -> Image.Image:
        v = variants[label]
        if r.random() < .75:  # sky with clouds
            sky = gradient(h, w, math.pi / 2, hsv(.58, r.uniform(.2, .7), r.uniform(.7, 1)),
                           hsv(.6, r.uniform(.1, .4), r.uniform(.8, 1)))
            cloud = np.clip((smooth_noise(r, h, w, 5, 1) - r.uniform(.4, .7)) * 3, 0, 1)
            canvas = sky * (1 - cloud) + cloud * r.uniform(.85, 1)
        else:  # tarmac or grass
            canvas = hsv(r.choice([.25, .1, 0]), r.uniform(0, .4), r.uniform(.3, .6)) * (
                .8 + .4 * smooth_noise(r, h, w, 8, 1))
        img = to_image(canvas)
        draw = ImageDraw.Draw(img)
        body = hsv(r.random(), r.uniform(0, .25), r.uniform(.6, 1)) if r.random() < .8 else \
            hsv(r.random(), r.uniform(.3, .9), r.uniform(.3, .9))
        colours = [rgb255(body), rgb255(jitter(r, body * .85, .03)), rgb255(body * .5),
                   rgb255(hsv(r.random(), r.uniform(.3, 1), r.uniform(.3, 1)))]
        heading = r.normal(0, .35) + (math.pi if r.random() < .5 else 0)
        foreshorten = r.uniform(.45, 1)  # seen from the side, the span shrinks
        scale = w * r.uniform(.48, .6) / 1.9
        cx, cy = w / 2 + r.normal(0, w * .04), h / 2 + r.normal(0, h * .05)
        c, s = math.cos(heading), math.sin(heading)
        for poly, slot in _plane(v):
            p = np.asarray(poly) * np.array([1.0, foreshorten])
            x, y = p[:, 0] * c - p[:, 1] * s, p[:, 0] * s + p[:, 1] * c
            draw.polygon(list(zip((cx + scale * x).tolist(), (cy + scale * y).tolist())),
                         fill=colours[slot])
        return finish(img, r, noise=.03)

    names = tuple(f"{v['family']}-{k // len(FAMILIES)}" for k, v in enumerate(variants))
    return Family(names, render)
