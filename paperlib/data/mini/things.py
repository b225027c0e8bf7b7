"""Part-based drawings of the MiniDecathlon source: animals, objects, vehicles and plants.

Each structure is a list of parts in a unit frame (x right, y down, about -1..1): a polygon or a
polyline of a given width, painted with one of three colour slots, as cifar100's structures
(objects.py) are. The structures here are other ones than cifar100's (animal, bird, fish, car,
tree, house, mushroom, vase, boat, insect), aircraft's planforms and vgg-flowers' radial flowers,
so that no source class is a target class. ``p`` (four numbers near 1) and ``opt`` (0 or 1) make
the variants of a structure.
"""

from __future__ import annotations

import math

import numpy as np

from paperlib.data.mini.canvas import polygon

ANIMALS = ("snake", "turtle", "spider", "snail", "butterfly", "jellyfish", "crab", "frog")
OBJECTS = ("cup", "lamp", "chair", "umbrella", "bottle", "clock", "guitar", "key")
VEHICLES = ("bus", "tanker", "locomotive", "tractor", "helicopter", "rocket", "airship", "cart")
PLANTS = ("cactus", "palm", "fern", "tulip", "bamboo", "grapes", "wheat", "leaf")


def _e(x, y, rx, ry, n=20):
    return polygon(x, y, 1.0, np.linspace(0, 2 * math.pi, n, endpoint=False), 0.0, rx, ry)


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _wheel(x, y, r):
    return [(_e(x, y, r, r), 2, 0), (_e(x, y, .45 * r, .45 * r), 1, 0)]


def _animal(kind: str, p: np.ndarray, opt: int) -> list:
    if kind == "snake":
        t = np.linspace(-1, 1, 14)
        body = list(zip((.9 * t).tolist(), (.35 * p[0] * np.sin(t * math.pi * (1.5 + opt))).tolist()))
        return [(body, 0, .16 * p[1]), (_e(.95, body[-1][1], .16 * p[2], .11), 0, 0),
                ([(x, y) for x, y in body[2:-2:3]], 1, .07)]
    if kind == "turtle":
        s = np.linspace(math.pi, 2 * math.pi, 14)
        shell = list(zip((.7 * p[0] * np.cos(s)).tolist(), (.1 + .6 * p[1] * np.sin(s)).tolist()))
        legs = [(_e(x, .2, .14, .12), 1, 0) for x in (-.5, .45)]
        return legs + [(_e(.85, -.05, .18 * p[2], .14), 1, 0), (shell, 0, 0),
                       ([(-.4, -.2), (0, -.45 * p[1]), (.4, -.2)], 2, .05 + .04 * opt)]
    if kind == "spider":
        parts = []
        for k in range(4):
            for side in (-1, 1):
                a = -.9 + .6 * k
                parts.append(([(0, 0), (side * .55 * p[0], a * .6), (side * .9 * p[0], a + .3)], 1, .05))
        return parts + [(_e(0, .1, .3 * p[1], .35 * p[1]), 0, 0), (_e(0, -.3, .18, .16), 0, 0),
                        (_e(0, .15, .08, .1 + .1 * opt), 2, 0)]
    if kind == "snail":
        t = np.linspace(0, 4 * math.pi, 30)
        spiral = list(zip((.05 + .045 * p[0] * t * np.cos(t)).tolist(), (-.2 + .045 * p[0] * t * np.sin(t)).tolist()))
        return [([(-.8, .45), (.8 * p[1], .45), (.9 * p[1], .1), (.6, .3), (-.6, .35)], 1, 0),
                (_e(.05, -.2, .6 * p[0], .55 * p[0]), 0, 0), (spiral, 2, .06),
                ([(.8 * p[1], .15), (.9, -.35 * p[2])], 1, .04), ([(.75 * p[1], .15), (.7, -.3 * p[2])], 1, .04)]
    if kind == "butterfly":
        wings = [(_e(s * .45 * p[0], -.3, .45 * p[0], .4 * p[1]), 0, 0) for s in (-1, 1)]
        wings += [(_e(s * .35 * p[0], .35, .3, .3 * p[2]), 1, 0) for s in (-1, 1)]
        spots = [(_e(s * .5 * p[0], -.3, .12, .12), 2, 0) for s in (-1, 1)] if opt else []
        return wings + spots + [(_e(0, 0, .07, .55), 2, 0), ([(0, -.5), (-.25, -.9)], 2, .03),
                                ([(0, -.5), (.25, -.9)], 2, .03)]
    if kind == "jellyfish":
        s = np.linspace(math.pi, 2 * math.pi, 14)
        bell = list(zip((.6 * p[0] * np.cos(s)).tolist(), (-.1 + .6 * p[1] * np.sin(s)).tolist()))
        tent = [([(x, -.1), (x + .1 * np.sin(3 * x), .4), (x - .1, .9 * p[2])], 1, .04)
                for x in np.linspace(-.45, .45, 5 + opt)]
        return tent + [(bell, 0, 0), (_e(0, -.35, .25 * p[0], .15), 2, 0)]
    if kind == "crab":
        parts = [([(s * .4, .1), (s * .75, .1 + .3), (s * .9, .55)], 1, .05) for s in (-1, 1) for _ in (0,)]
        parts += [([(s * .3, .15), (s * .65, .5)], 1, .05) for s in (-1, 1)]
        claws = [(_e(s * .75 * p[2], -.55, .2 * p[3], .15), 0, 0) for s in (-1, 1)]
        arms = [([(s * .35, -.1), (s * .7 * p[2], -.5)], 0, .08) for s in (-1, 1)]
        return parts + arms + claws + [(_e(0, 0, .55 * p[0], .33 * p[1]), 0, 0),
                                       (_e(-.15, -.3, .05, .05), 2, 0), (_e(.15, -.3, .05, .05), 2, 0)]
    if kind == "frog":
        legs = [([(s * .35, .2), (s * .8 * p[2], .45), (s * .5, .6)], 1, .12) for s in (-1, 1)]
        eyes = [(_e(s * .25, -.42, rx, ry), slot, 0) for rx, ry, slot in ((.14, .14, 1), (.06, .07, 2))
                for s in (-1, 1)]
        return legs + [(_e(0, 0, .55 * p[0], .4 * p[1]), 0, 0)] + eyes + (
            [(_e(0, .15, .3, .15), 1, 0)] if opt else [])
    raise ValueError(kind)


def _object(kind: str, p: np.ndarray, opt: int) -> list:
    if kind == "cup":
        w, h = .45 * p[0], .55 * p[1]
        return [(_e(w + .1, 0, .25 * p[2], .25, 16), 0, .07), ([(-w, -h), (w, -h), (.8 * w, h), (-.8 * w, h)], 0, 0),
                (_e(0, -h, w, .08), 1, 0)] + ([(_e(0, h + .05, .8, .08), 2, 0)] if opt else [])
    if kind == "lamp":
        return [(_rect(-.35 * p[2], .8, .35 * p[2], .9), 1, 0), ([(0, .8), (0, -.2)], 1, .06),
                ([(-.5 * p[0], .05), (.5 * p[0], .05), (.25 * p[1], -.6), (-.25 * p[1], -.6)], 0, 0),
                (_e(0, .05, .12, .06), 2, 0)]
    if kind == "chair":
        return [(_rect(-.45, .05, .45 * p[0], .15), 0, 0), (_rect(-.45, -.8 * p[1], -.35, .1), 0, 0),
                ([(-.4, .1), (-.45, .85)], 1, .06), ([(.4 * p[0], .1), (.45 * p[0], .85)], 1, .06)] + (
                [(_rect(-.35, -.6 * p[1], -.3, -.2), 2, 0)] if opt else [])
    if kind == "umbrella":
        s = np.linspace(math.pi, 2 * math.pi, 15)
        canopy = list(zip((.85 * p[0] * np.cos(s)).tolist(), (-.1 + .6 * p[1] * np.sin(s)).tolist()))
        return [(canopy, 0, 0), ([(0, -.1), (0, .7), (.15, .8), (.25, .7)], 1, .05)] + (
            [([(0, -.7 * p[1]), (x, -.1)], 2, .03) for x in (-.45, .45)] if opt else [])
    if kind == "bottle":
        w = .3 * p[0]
        return [(_rect(-w, -.2, w, .85), 0, 0), ([(-w, -.2), (-.1, -.55 * p[1]), (.1, -.55 * p[1]), (w, -.2)], 0, 0),
                (_rect(-.1, -.85 * p[1], .1, -.5 * p[1]), 0, 0), (_rect(-.11, -.95 * p[1], .11, -.8 * p[1]), 2, 0),
                (_rect(-w, .15, w, .15 + .35 * p[2]), 1, 0)]
    if kind == "clock":
        a1, a2 = 2 * math.pi * p[2], 2 * math.pi * p[3]
        ticks = [([(.62 * math.cos(a), .62 * math.sin(a)), (.72 * math.cos(a), .72 * math.sin(a))], 2, .04)
                 for a in np.arange(12 if opt else 4) * 2 * math.pi / (12 if opt else 4)]
        return [(_e(0, 0, .8 * p[0], .8 * p[0], 28), 0, 0), (_e(0, 0, .7, .7, 28), 1, 0)] + ticks + [
            ([(0, 0), (.5 * math.cos(a1), .5 * math.sin(a1))], 2, .05),
            ([(0, 0), (.35 * math.cos(a2), .35 * math.sin(a2))], 2, .07)]
    if kind == "guitar":
        return [(_e(0, .45, .42 * p[0], .38), 0, 0), (_e(0, -.05, .32 * p[1], .28), 0, 0),
                (_e(0, .2, .1, .1), 2, 0), (_rect(-.05, -.95, .05, .25), 1, 0), (_rect(-.1, -1, .1, -.85 * p[2]), 1, 0)]
    if kind == "key":
        bits = [(_rect(x, .0, x + .08, .12 + .1 * p[3] * (k % 2 + 1)), 0, 0)
                for k, x in enumerate((.45, .6, .75)[:2 + opt])]
        return [(_e(-.55, 0, .35 * p[0], .35 * p[0]), 0, 0), (_e(-.55, 0, .14, .14), 1, 0),
                (_rect(-.25, -.05 * p[1], .9 * p[2], .05 * p[1] + .02), 0, 0)] + bits
    raise ValueError(kind)


def _vehicle(kind: str, p: np.ndarray, opt: int) -> list:
    if kind == "bus":
        L, H = .95 * p[0], .45 * p[1]
        windows = [(_rect(x, -H + .08, x + .2, -H + .25), 1, 0) for x in np.arange(-L + .1, L - .2, .28)]
        return [(_rect(-L, -H, L, .25), 0, 0)] + windows + _wheel(-L + .3, .28, .15) + _wheel(L - .3, .28, .15) + (
            [(_rect(-L, 0, L, .06), 2, 0)] if opt else [])
    if kind == "tanker":
        return [(_rect(.45, -.35 * p[1], .9, .2), 0, 0), (_rect(.55, -.3 * p[1], .82, -.1), 1, 0),
                (_e(-.25, -.05, .65 * p[0], .3 * p[2], 24), 1, 0), (_rect(-.9, .15, .9, .25), 2, 0)] + \
            _wheel(-.6, .3, .14) + _wheel(-.25 * opt, .3, .14) + _wheel(.7, .3, .14)
    if kind == "locomotive":
        return [(_rect(-.9, -.15, .5 * p[0], .25), 0, 0), (_rect(-.9, -.6 * p[1], -.35, .25), 0, 0),
                (_rect(.2, -.5 * p[2], .35, -.15), 2, 0), ([(.5 * p[0], .25), (.85, .3), (.5 * p[0], -.1)], 1, 0)] + \
            [w for x in (-.65, -.25, .15) for w in _wheel(x, .3, .16 + .05 * opt)]
    if kind == "tractor":
        return [(_rect(-.4, -.15, .7 * p[0], .2), 0, 0), (_rect(-.45, -.7 * p[1], -.05, -.1), 0, 0),
                (_rect(-.4, -.62 * p[1], -.12, -.2), 1, 0), ([(.5, -.15), (.5, -.45 * p[2])], 2, .05)] + \
            _wheel(-.35, .25, .45 * p[3]) + _wheel(.55 * p[0], .35, .22)
    if kind == "helicopter":
        return [(_e(-.1, 0, .45 * p[0], .3), 0, 0), (_e(.05, -.05, .22, .2), 1, 0),
                (_rect(-1, -.05, -.3, .05), 0, 0), ([(-1, -.05), (-.95, -.3 * p[2])], 0, .05),
                ([(-.1, -.3), (-.1, -.4)], 2, .05), ([(-.95 * p[1], -.42), (.75 * p[1], -.42)], 2, .04),
                ([(-.4, .45), (.3, .45)], 2, .04), ([(-.3, .3), (-.3, .45)], 2, .03), ([(.2, .3), (.2, .45)], 2, .03)]
    if kind == "rocket":
        w = .22 * p[0]
        return [(_rect(-w, -.5, w, .6), 0, 0), ([(-w, -.5), (0, -.5 - .45 * p[1]), (w, -.5)], 1, 0),
                ([(-w, .25), (-w - .25 * p[2], .75), (-w, .6)], 1, 0),
                ([(w, .25), (w + .25 * p[2], .75), (w, .6)], 1, 0),
                (_e(0, -.15, .1, .1), 2, 0)] + ([([(-.1, .65), (0, .95), (.1, .65)], 2, 0)] if opt else [])
    if kind == "airship":
        return [(_e(0, -.15, .9 * p[0], .35 * p[1], 28), 0, 0), (_rect(-.2, .22, .2 * p[2], .35), 1, 0),
                ([(-.75 * p[0], -.15), (-.95 * p[0], -.5), (-.95 * p[0], .2)], 1, 0)] + (
                [(_rect(-.6, -.2, .6, -.1), 2, 0)] if opt else [])
    if kind == "cart":
        return [([(-.7, -.2), (.6, -.2), (.5 * p[0], .25), (-.6, .25)], 0, 0), ([(.6, -.05), (1, -.3 * p[1])], 1, .05),
                (_rect(-.7, -.35 * p[2], .6, -.2), 1, 0)] + _wheel(-.2 * opt, .35, .3 * p[3])
    raise ValueError(kind)


def _plant(kind: str, p: np.ndarray, opt: int) -> list:
    if kind == "cactus":
        arms = [([(s * .15, -.1 * p[2]), (s * .5, -.1 * p[2]), (s * .5, -.6 * p[3])], 0, .18)
                for s in (-1, 1)[: 1 + opt]]
        return [(_rect(-.5, .6, .5, .95), 1, 0)] + arms + [(_rect(-.16 * p[0], -.85 * p[1], .16 * p[0], .65), 0, 0),
                                                            ([(0, -.8 * p[1]), (0, .6)], 2, .03)]
    if kind == "palm":
        trunk = [([(0, .95), (.1 * p[2], .3), (.15 * p[2], -.4)], 1, .1)]
        fronds = [([(.15 * p[2], -.4), (.15 * p[2] + .4 * math.cos(a) * p[0], -.4 - .35 * math.sin(a)),
                    (.15 * p[2] + .75 * math.cos(a) * p[0], -.2 - .2 * math.sin(a))], 0, .1)
                  for a in np.linspace(.3, math.pi - .3, 5 + opt)]
        return trunk + fronds
    if kind == "fern":
        t = np.linspace(0, 1, 12)
        stem = list(zip((.3 * p[2] * t ** 2).tolist(), (.9 - 1.8 * t).tolist()))
        leaves = [([(x, y), (x + s * .4 * p[0] * (1 - k / 12), y - .1 * p[1])], 0, .06)
                  for k, (x, y) in enumerate(stem[1:], 1) for s in (-1, 1)]
        return [(stem, 1, .04)] + leaves
    if kind == "tulip":
        cup = [(-.3 * p[0], -.6), (-.15, -.85 * p[1]), (0, -.6), (.15, -.85 * p[1]), (.3 * p[0], -.6),
               (.25 * p[0], -.2), (-.25 * p[0], -.2)]
        return [([(0, -.2), (.05 * opt, .95)], 1, .05), ([(0, .6), (-.35 * p[2], .1), (-.05, .3)], 1, 0), (cup, 0, 0)]
    if kind == "bamboo":
        parts = []
        for k, x in enumerate((-.35, 0, .35)[: 2 + opt]):
            parts.append(([(x, .95), (x + .05, -.95)], 0, .13 * p[0]))
            parts += [([(x - .08, y), (x + .1, y)], 2, .04) for y in np.arange(-.7, .9, .45 * p[1])]
            parts.append(([(x + .05, -.2 * k), (x + .4 * p[2], -.35 - .2 * k)], 1, .07))
        return parts
    if kind == "grapes":
        rows = [(0, -.35), (-.2, -.35), (.2, -.35), (-.1, -.1), (.1, -.1), (0, .15), (-.2, .15 * opt), (0, .4 * p[1])]
        r = .14 * p[0]
        return [([(0, -.5), (.1, -.85)], 2, .05), (_e(.35, -.65, .3 * p[2], .15), 1, 0)] + [
            (_e(x, y, r, r, 12), 0, 0) for x, y in rows]
    if kind == "wheat":
        grains = [(_e(s * .09, y, .08 * p[0], .13, 10), 0, 0)
                  for y in np.arange(-.85, -.05 * p[1], .16) for s in (-1, 1)]
        return [([(0, .95), (0, -.9)], 1, .04)] + grains + (
            [([(s * .09, y - .1), (s * .25, y - .45)], 2, .02) for y in (-.8, -.5) for s in (-1, 1)] if opt else [])
    if kind == "leaf":
        t = np.linspace(0, 1, 14)
        half = .45 * p[0] * np.sin(math.pi * t ** (.8 * p[1]))
        x = -.9 + 1.8 * t
        outline = list(zip(x.tolist(), half.tolist())) + list(zip(x[::-1].tolist(), (-half[::-1]).tolist()))
        veins = [([(a, 0), (a + .25, s * .3 * p[0])], 2, .025) for a in np.linspace(-.6, .4, 4 + opt) for s in (-1, 1)]
        return [([(-1.05, .1), (-.9, 0)], 1, .05), (outline, 0, 0), ([(-.9, 0), (.85, 0)], 2, .035)] + veins
    raise ValueError(kind)


def parts_of(family: str, kind: str, p: np.ndarray, opt: int) -> list:
    """The parts of one drawing: (points in the unit frame, colour slot 0/1/2, line width or 0)."""
    if family == "objects and animals":
        return _animal(kind, p, opt) if kind in ANIMALS else _object(kind, p, opt)
    if family == "vehicles":
        return _vehicle(kind, p, opt)
    return _plant(kind, p, opt)
