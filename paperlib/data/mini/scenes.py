"""Scenes and textures of the MiniDecathlon source.

Scenes are what no target shows as a class: a layout (a horizon between sky and ground, then
water, dunes, ridges, buildings, a road, a room...) in a light (day or dusk). Textures are kinds
that dtd's 24 pattern families (textures.py) do not have (bricks, tartan, herringbone, argyle,
triangle tiles, moire, plus grids, steps), each in a colourway fixed by the class: in the
source a texture class is a material, colour included, while a dtd class is a pattern only.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import ImageDraw

from paperlib.data.mini.canvas import gradient, hsv, rgb255, smooth_noise, to_array, to_image

LAYOUTS = ("beach", "desert", "mountains", "forest", "skyline", "lake", "field", "snowfield",
           "road", "bridge", "room", "cave")
LIGHTS = ("day", "dusk")
TEXTURES = ("brick", "tartan", "herringbone", "argyle", "triangle-tiles", "moire", "plus-grid", "steps")


@functools.lru_cache(maxsize=4)
def _coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y in [-.5, .5] over an n x n canvas (read only; cached: every image needs them)."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / max(n - 1, 1) - .5
    x.flags.writeable = y.flags.writeable = False
    return x, y


def clutter(r: np.random.Generator, n: int, palette=None) -> np.ndarray:
    """canvas.natural_background's look (two colours mixed by low-frequency noise, under a light
    ramp) at a third of its cost, which matters for the source's 56,000 images."""
    if palette is None:
        palette = [hsv(r.random(), r.uniform(0.1, 0.6), r.uniform(0.2, 0.9)) for _ in range(2)]
    mix = smooth_noise(r, n, n, int(r.integers(2, 6)), 1)
    x, y = _coords(n)
    a = r.uniform(0, 2 * math.pi)
    ramp = 1 - r.uniform(0, .4) * (x * math.cos(a) + y * math.sin(a) + .5)
    return ((1 - mix) * np.asarray(palette[0], np.float32) + mix * np.asarray(palette[1], np.float32)) * ramp[..., None]


def _sky(r: np.random.Generator, h: int, w: int, light: str) -> np.ndarray:
    if light == "day":
        top, low = hsv(r.uniform(.55, .65), r.uniform(.4, .8), r.uniform(.7, 1)), hsv(.58, r.uniform(.05, .3), .95)
    else:
        top, low = hsv(r.uniform(.68, .8), r.uniform(.4, .7), r.uniform(.25, .5)), hsv(r.uniform(.02, .1), .7, .95)
    return gradient(h, w, math.pi / 2 + r.normal(0, .05), top, low)


def _ridge(r: np.random.Generator, n: int, base: float, amp: float, rough: int, big: int) -> list:
    xs = np.linspace(-2, big + 2, rough + 1)
    ys = base - amp * r.random(rough + 1)
    return list(zip(xs.tolist(), ys.tolist())) + [(big + 2, big + 2), (-2, big + 2)]


def draw_scene(layout: str, light: str, r: np.random.Generator, big: int) -> np.ndarray:
    """A float canvas (big x big x 3) of a scene layout in a light."""
    dim = 1.0 if light == "day" else r.uniform(.45, .65)  # ground under a dusk sky is darker
    horizon = big * r.uniform(.4, .6)
    img = to_image(_sky(r, big, big, light))
    d = ImageDraw.Draw(img)
    col = lambda h, s, v: rgb255(hsv(h + r.normal(0, .02), s * r.uniform(.8, 1.2),  # noqa: E731
                                     v * dim * r.uniform(.85, 1.1)))
    if layout in ("beach", "lake", "bridge"):
        if layout == "lake":
            d.polygon(_ridge(r, big, horizon, big * .15, 6, big), fill=col(.3, .5, .4))
            horizon += big * .05
        d.rectangle([0, horizon, big, big], fill=col(.57, .7, .6))
        for y in np.arange(horizon + 4, big, big / 10):
            d.line([(0, y), (big, y + r.normal(0, 2))], fill=col(.55, .4, .8), width=1)
        if layout == "beach":
            d.polygon(_ridge(r, big, big * r.uniform(.75, .85), big * .06, 4, big), fill=col(.12, .45, .9))
        if layout == "bridge":
            deck = horizon - big * r.uniform(.05, .15)
            d.rectangle([0, deck, big, deck + big * .06], fill=col(.08, .3, .5))
            for x in np.linspace(0, big, 4):
                d.rectangle([x - big * .03, deck, x + big * .03, big], fill=col(.08, .3, .45))
                d.pieslice([x + big * .04, deck + big * .05, x + big / 3 - big * .04, big * 1.1], 180, 360,
                           fill=col(.57, .6, .5))
    elif layout == "desert":
        for k in range(3):
            d.polygon(_ridge(r, big, horizon + k * big * .15, big * .12, 3, big),
                      fill=col(.1, .5 + .1 * k, .85 - .12 * k))
    elif layout in ("mountains", "snowfield"):
        peaks = _ridge(r, big, horizon, big * .35, int(r.integers(3, 6)), big)
        d.polygon(peaks, fill=col(.6, .15, .5) if layout == "mountains" else col(.6, .1, .8))
        for x, y in peaks[:-2]:
            d.polygon([(x, y), (x - big * .06, y + big * .08), (x + big * .06, y + big * .08)], fill=col(0, 0, .97))
        d.rectangle([0, big * .78, big, big], fill=col(.3, .5, .45) if layout == "mountains" else col(.6, .08, .95))
    elif layout == "forest":
        d.rectangle([0, horizon, big, big], fill=col(.3, .5, .35))
        for _ in range(int(r.integers(8, 14))):
            x, y, s = r.uniform(0, big), horizon + r.uniform(-.05, .3) * big, big * r.uniform(.08, .16)
            d.rectangle([x - s * .1, y, x + s * .1, y + s * .6], fill=col(.08, .5, .3))
            d.polygon([(x, y - 2.2 * s), (x - s * .7, y + s * .1), (x + s * .7, y + s * .1)], fill=col(.33, .6, .3))
    elif layout == "skyline":
        x = -r.uniform(0, big * .1)
        while x < big:
            bw, top = big * r.uniform(.1, .22), big * r.uniform(.15, .6)
            d.rectangle([x, top, x + bw, big], fill=col(r.uniform(0, 1), .1, .45))
            lit = (250, 220, 120) if light == "dusk" else rgb255(hsv(.58, .2, .8))
            for wy in np.arange(top + 3, big - 3, big * .07):
                for wx in np.arange(x + 2, x + bw - 3, big * .05):
                    if r.random() < .6:
                        d.rectangle([wx, wy, wx + big * .025, wy + big * .03], fill=lit)
            x += bw + big * r.uniform(0, .04)
    elif layout in ("field", "road"):
        d.rectangle([0, horizon, big, big], fill=col(r.choice([.14, .25, .3]), .6, .6))
        vx = big * r.uniform(.35, .65)
        if layout == "field":
            for x in np.linspace(-big, 2 * big, 14):
                d.line([(vx, horizon), (x, big)], fill=col(.1, .5, .35), width=2)
        else:
            half = big * r.uniform(.3, .5)
            d.polygon([(vx - 2, horizon), (vx + 2, horizon), (vx + half, big), (vx - half, big)], fill=col(0, 0, .35))
            for t in np.arange(.1, 1, .2):
                d.line([(vx, horizon + (big - horizon) * t), (vx, horizon + (big - horizon) * (t + .08))],
                       fill=(240, 230, 200), width=max(1, int(3 * t)))
    elif layout == "room":
        m = big * r.uniform(.2, .3)
        wall, floor = col(r.random(), .25, .75), col(.08, .5, .5)
        d.rectangle([0, 0, big, big], fill=rgb255(np.asarray(wall) / 255 * .7))
        d.rectangle([m, m, big - m, big - m * .8], fill=wall)
        d.polygon([(0, big), (m, big - m * .8), (big - m, big - m * .8), (big, big)], fill=floor)
        wx = r.uniform(m + 2, big - m - big * .2)
        d.rectangle([wx, m + big * .08, wx + big * .18, m + big * .3], fill=rgb255(_sky(r, 1, 1, light)[0, 0]))
    elif layout == "cave":
        ox, oy = big * r.uniform(.35, .65), big * r.uniform(.35, .6)
        rock = col(.07, .3, .3)
        canvas = to_array(img)
        y, x = np.mgrid[0:big, 0:big]
        rough = .3 * smooth_noise(r, big, big, 5, 1)[..., 0]
        inside = ((x - ox) / (big * .3)) ** 2 + ((y - oy) / (big * .35)) ** 2 + rough < 1.1
        canvas = np.where(inside[..., None], canvas, np.asarray(rock, np.float32) / 255)
        return canvas * (.75 + .5 * smooth_noise(r, big, big, 6, 1))
    else:
        raise ValueError(layout)
    return to_array(img) * (.85 + .3 * smooth_noise(r, big, big, 6, 1))


def texture_pattern(kind: str, n: int, period: float, r: np.random.Generator) -> np.ndarray:
    """A pattern in [0, 1] over n x n pixels, with a random orientation and phase."""
    theta = r.normal(0, .25) + (r.integers(2) * math.pi / 2)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    warp = (smooth_noise(r, n, n, 3, 2) - .5) * r.uniform(0, 2)
    u = (x * math.cos(theta) + y * math.sin(theta)) / period + warp[..., 0] + r.uniform(0, 1)
    v = (-x * math.sin(theta) + y * math.cos(theta)) / period + warp[..., 1] + r.uniform(0, 1)
    fu, fv = u % 1, v % 1
    if kind == "brick":  # rows of bricks, every other row shifted by half a brick
        row = np.floor(v * 2)
        bu = (u + .5 * (row % 2)) % 1
        return ((bu > .06) & ((v * 2) % 1 > .12)).astype(np.float32)
    if kind == "tartan":  # crossing bands of two widths, mixed
        a = (np.abs(fu - .5) < .18).astype(np.float32) + .5 * (np.abs(fu - .1) < .04)
        b = (np.abs(fv - .5) < .18).astype(np.float32) + .5 * (np.abs(fv - .1) < .04)
        return np.clip((a + b) / 2, 0, 1)
    if kind == "herringbone":  # columns of slanted strokes, alternating slant
        col = np.floor(u * 2) % 2
        return (((v * 3 + np.where(col == 0, 1, -1) * u * 3) % 1) < .5).astype(np.float32)
    if kind == "argyle":  # diamonds with a thin diagonal overcheck
        diamond = (np.abs(fu - .5) + np.abs(fv - .5) < .5).astype(np.float32)
        over = (np.abs(((u + v) * 2) % 1 - .5) < .04) | (np.abs(((u - v) * 2) % 1 - .5) < .04)
        return np.where(over, .5, diamond)
    if kind == "triangle-tiles":
        return (((fu + fv) % 1 < .5) ^ (np.floor(u) % 2 == 0)).astype(np.float32)
    if kind == "moire":  # two close ring gratings interfering
        c1, c2 = r.uniform(0, n, 2), r.uniform(0, n, 2)
        d1, d2 = np.hypot(x - c1[0], y - c1[1]), np.hypot(x - c2[0], y - c2[1])
        return .5 + .25 * np.sin(2 * math.pi * d1 / (period * .4)) + .25 * np.sin(2 * math.pi * d2 / (period * .4))
    if kind == "plus-grid":
        du, dv = np.abs(fu - .5), np.abs(fv - .5)
        return (((du < .08) & (dv < .3)) | ((dv < .08) & (du < .3))).astype(np.float32)
    if kind == "steps":  # a staircase edge repeated: two levels of shading
        return .5 * (fu < .5) + .5 * ((fu + np.floor(v * 2) * .25) % 1 < .3)
    raise ValueError(kind)


def draw_texture(kind: str, colours: np.ndarray, r: np.random.Generator, big: int) -> np.ndarray:
    """A texture filling the frame in the class's two colours (2 x 3), under uneven light."""
    t = texture_pattern(kind, big, big * r.uniform(.16, .24), r)[..., None]
    c0 = np.clip(colours[0] + r.normal(0, .04, 3), 0, 1)
    c1 = np.clip(colours[1] + r.normal(0, .04, 3), 0, 1)
    canvas = (1 - t) * c0 + t * c1
    return canvas * (.7 + .5 * smooth_noise(r, big, big, 4, 1))
