"""cifar100 of the MiniDecathlon: procedural objects on a sky/ground or water scene.

(The source, imagenet12, is drawn by source.py, from other structures: things.py.)
cifar100 imitates small natural photos grouped in superclasses: ten object structures (animal,
bird, fish, car, tree, house, mushroom, vase, boat, insect), ten variants each that differ in
proportions, colours and parts, blurred, on a sky/ground or water scene.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paperlib.data.mini.canvas import (
    SS,
    Family,
    finish,
    hsv,
    polygon,
    rgb255,
    smooth_noise,
    to_array,
    to_image,
    too_many,
    transform_points,
)

STRUCTURES = ("animal", "bird", "fish", "car", "tree", "house", "mushroom", "vase", "boat", "insect")


def _ellipse(x, y, rx, ry, n=24):
    return polygon(x, y, 1.0, np.linspace(0, 2 * math.pi, n, endpoint=False), 0.0, rx, ry)


def _parts(kind: str, p: np.ndarray, opt: int):
    """The parts of an object as (polygon in unit coords, colour slot 0/1/2, line width or 0)."""
    e, parts = _ellipse, []
    if kind == "animal":
        parts = [(e(0, 0, .6 * p[0], .3 * p[1]), 0, 0), (e(.62, -.3, .22 * p[2], .2 * p[2]), 0, 0)]
        for x in (-.4, -.2, .25, .45):
            parts.append(([(x, .1), (x, .2 + .5 * p[3])], 1, .1))
        parts.append(([(-.55, -.05), (-.9, -.3 - .3 * opt)], 1, .06))
        if opt:
            parts.append(([(.55, -.45), (.6, -.7), (.7, -.45)], 0, 0))
    elif kind == "bird":
        parts = [(e(0, 0, .45 * p[0], .3 * p[1]), 0, 0), (e(.45, -.35, .18 * p[2], .18 * p[2]), 0, 0),
                 ([(.6, -.4), (.85 + .2 * opt, -.33), (.6, -.28)], 2, 0),
                 (e(-.05, -.05, .3, .15 * p[3]), 1, 0), ([(-.4, 0), (-.85, -.15), (-.8, .15)], 1, 0),
                 ([(0, .28), (0, .6)], 2, .04), ([(.15, .28), (.15, .6)], 2, .04)]
    elif kind == "fish":
        parts = [(e(0, 0, .7 * p[0], .35 * p[1]), 0, 0),
                 ([(-.6, 0), (-1, -.4 * p[2]), (-1, .4 * p[2])], 1, 0),
                 ([(-.1, -.3), (.2, -.55 * p[3]), (.3, -.3)], 1, 0), (e(.45, -.08, .06, .06), 2, 0)]
        if opt:
            parts += [([(x, -.3), (x, .3)], 1, .07) for x in (-.2, .1)]
    elif kind == "car":
        h = .25 * p[1]
        parts = [([(-.9 * p[0], -.05), (.9 * p[0], -.05), (.9 * p[0], h), (-.9 * p[0], h)], 0, 0),
                 ([(-.45, -.05), (-.3, -.35 * p[2]), (.3 + .2 * opt, -.35 * p[2]), (.55, -.05)], 0, 0),
                 ([(-.3, -.1), (-.22, -.28 * p[2]), (.25, -.28 * p[2]), (.4, -.1)], 2, 0),
                 (e(-.55 * p[0], h, .2 * p[3], .2 * p[3]), 1, 0),
                 (e(.55 * p[0], h, .2 * p[3], .2 * p[3]), 1, 0)]
    elif kind == "tree":
        parts = [([(-.08 * p[0], .9), (.08 * p[0], .9), (.06, 0), (-.06, 0)], 1, 0)]
        if opt:
            parts.append(([(0, -.95 * p[1]), (.55 * p[2], .3), (-.55 * p[2], .3)], 0, 0))
        else:
            parts += [(e(x, y - .2 * p[1], .35 * p[2], .33 * p[3]), 0, 0)
                      for x, y in ((-.25, 0), (.25, 0), (0, -.35))]
    elif kind == "house":
        w, h = .6 * p[0], .5 * p[1]
        parts = [([(-w, -.1), (w, -.1), (w, h + .3), (-w, h + .3)], 0, 0),
                 ([(-w - .1, -.1), (0, -.1 - .6 * p[2]), (w + .1, -.1)], 1, 0),
                 ([(-.1, h + .3), (-.1, .25), (.12, .25), (.12, h + .3)], 2, 0)]
        for x in (-.4 * p[0], .4 * p[0])[: 1 + opt]:
            parts.append(([(x - .1, .05), (x + .1, .05), (x + .1, .22), (x - .1, .22)], 2, 0))
    elif kind == "mushroom":
        s = np.linspace(math.pi, 2 * math.pi, 16)
        cap = list(zip((.7 * p[0] * np.cos(s)).tolist(), (-.05 + .55 * p[1] * np.sin(s)).tolist()))
        parts = [([(-.15 * p[2], -.05), (.15 * p[2], -.05), (.18, .7 * p[3]), (-.18, .7 * p[3])], 1, 0),
                 (cap, 0, 0)]
        if opt:
            parts += [(e(x, y, .08, .06), 2, 0) for x, y in ((-.3, -.3), (.1, -.45), (.35, -.2))]
    elif kind == "vase":
        parts = [(e(0, .25, .45 * p[0], .5 * p[1]), 0, 0),
                 ([(-.12 * p[2], .2), (.12 * p[2], .2), (.12 * p[2], -.6 * p[3]),
                   (-.12 * p[2], -.6 * p[3])], 0, 0),
                 ([(-.2, -.6 * p[3]), (.2, -.6 * p[3]), (.2, -.7 * p[3]), (-.2, -.7 * p[3])], 1, 0)]
        if opt:
            parts.append(([(-.45 * p[0], .2), (.45 * p[0], .2)], 2, .08))
    elif kind == "boat":
        parts = [([(-.9 * p[0], .2), (.9 * p[0], .2), (.6 * p[0], .5 * p[1]), (-.6 * p[0], .5 * p[1])], 0, 0),
                 ([(0, .2), (0, -.9 * p[2])], 2, .04),
                 ([(.03, -.85 * p[2]), (.03, .1), (.6 * p[3], .1)], 1, 0)]
        if opt:
            parts.append(([(-.03, -.7 * p[2]), (-.03, .1), (-.5 * p[3], .1)], 1, 0))
    elif kind == "insect":
        parts = [(e(x, 0, r * p[0], r * p[1]), 0, 0) for x, r in ((-.45, .3), (0, .18), (.3, .15))]
        for x in (-.1, 0, .1):
            parts += [([(x, 0), (x - .2, .45 * p[2])], 1, .04), ([(x, 0), (x - .2, -.45 * p[2])], 1, .04)]
        parts += [([(.4, -.1), (.7, -.5 * p[3] - .2 * opt)], 2, .03),
                  ([(.4, -.05), (.75, -.3 * p[3])], 2, .03)]
    return parts


def _scene(r: np.random.Generator, big: int, water: bool) -> np.ndarray:
    """Sky above a horizon, ground (or water) below, both mottled."""
    horizon = int(big * r.uniform(.45, .8))
    sky = hsv(r.uniform(.5, .68), r.uniform(.1, .5), r.uniform(.6, 1))
    ground = (hsv(r.uniform(.5, .62), r.uniform(.4, .8), r.uniform(.3, .7)) if water
              else hsv(r.choice([.1, .2, .3, .08]), r.uniform(.2, .6), r.uniform(.25, .7)))
    canvas = np.empty((big, big, 3), np.float32)
    canvas[:horizon], canvas[horizon:] = sky, ground
    return canvas * (0.8 + 0.4 * smooth_noise(r, big, big, 6, 1))


def build_cifar100(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    per = math.ceil(num_classes / len(STRUCTURES))
    too_many("cifar100", per, 10)
    # a superclass has its own hues: its variants differ subtly in colour, as in proportions
    hues = rng.random((len(STRUCTURES), 3))
    variants = []
    for k in range(num_classes):  # class k: structure k % 10, so superclasses stay balanced
        palette = [(hues[k % 10, j] + rng.normal(0, .1), rng.uniform(.3, .9), rng.uniform(.3, .95))
                   for j in range(3)]
        variants.append((STRUCTURES[k % 10], palette, rng.uniform(.7, 1.3, 4), int(rng.integers(2))))
    big = size * SS

    def render(label: int, r: np.random.Generator) -> Image.Image:
        kind, palette, p, opt = variants[label]
        img = to_image(_scene(r, big, kind in ("fish", "boat")))
        draw = ImageDraw.Draw(img)
        scale, rot, flip = big * r.uniform(.28, .42), r.normal(0, .12), bool(r.integers(2))
        cx, cy = big / 2 + r.normal(0, big * .06, 2)
        colours = [rgb255(hsv(h + r.normal(0, .03), sat + r.normal(0, .1), val + r.normal(0, .1)))
                   for h, sat, val in palette]
        for points, slot, width in _parts(kind, p * r.normal(1, .06, 4), opt):
            xy = transform_points(points, cx, cy, scale, rot, flip)
            if width:
                draw.line(xy, fill=colours[slot], width=max(1, int(width * scale)))
            else:
                draw.polygon(xy, fill=colours[slot])
        img = img.filter(ImageFilter.GaussianBlur(r.uniform(.6, 1.4)))
        return finish(to_array(img) * r.uniform(.8, 1.15), r, noise=0.02)

    names = tuple(f"{v[0]}-{k // 10}" for k, v in enumerate(variants))
    return Family(names, render)
