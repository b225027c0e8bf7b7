"""dtd of the MiniDecathlon: procedural textures, named after DTD's describable attributes.

DTD (docs/authors_code.md: 47 classes, 40 train images each) is about structure, not colour: here every
image draws its two colours at random, so a class is only its pattern (stripes, zigzags, dots,
grids, cells, veins, ...) at one of a few scales, with random orientation, phase and warping.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw

from paperlib.data.mini.canvas import SS, Family, finish, hsv, smooth_noise, too_many

# pattern families (read only); each comes at the scales listed (period in final-image pixels)
PATTERNS = MappingProxyType({
    "banded": (3.0, 5.0, 8.0), "zigzagged": (3.5, 6.0), "wavy": (3.5, 6.0), "chequered": (4.0, 7.0),
    "polka-dotted": (5.0, 8.0), "bubbly": (1.0, 2.0), "concentric": (3.0, 5.0), "spiralled": (3.0, 5.0),
    "crosshatched": (4.0, 7.0), "grid": (5.0, 8.0), "honeycombed": (5.0, 8.0), "marbled": (4.0, 7.0),
    "cracked": (1.0, 2.0), "scaly": (1.0, 2.0), "woven": (4.0, 6.0), "blotchy": (1.0, 2.0),
    "fibrous": (1.0, 2.0), "chevron": (4.0, 7.0), "studded": (4.0, 7.0), "veined": (1.0, 2.0),
    "pleated": (4.0, 7.0), "dotted-lines": (4.0, 7.0), "interlaced": (5.0, 8.0), "freckled": (1.0, 2.0),
})


def _grid(n: int, theta: float, warp: np.ndarray):
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / SS
    x, y = x + warp[..., 0], y + warp[..., 1]
    c, s = math.cos(theta), math.sin(theta)
    return x * c + y * s, -x * s + y * c


def _voronoi(n: int, r: np.random.Generator, cells: int):
    """Distances to the nearest and second nearest of ``cells`` random seeds (F1, F2)."""
    seeds = r.uniform(0, n, (cells, 2)).astype(np.float32)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    d = np.sqrt((x[..., None] - seeds[:, 0]) ** 2 + (y[..., None] - seeds[:, 1]) ** 2)
    d.sort(axis=-1)
    return d[..., 0] / SS, d[..., 1] / SS


def _pattern(kind: str, scale: float, n: int, r: np.random.Generator) -> np.ndarray:
    """A pattern in [0, 1] over an n x n supersampled canvas."""
    p = scale * r.uniform(.85, 1.15)
    warp = (smooth_noise(r, n, n, 3, 2) - .5) * r.uniform(0, 3)
    u, v = _grid(n, r.uniform(0, math.pi), warp)
    tau = 2 * math.pi
    ph = r.uniform(0, tau)
    tri = lambda t: 2 * np.abs((t % 1) - .5)  # noqa: E731 -- triangle wave in [0, 1]
    if kind == "banded":
        return (np.sin(tau * u / p + ph) > 0).astype(np.float32)
    if kind == "zigzagged":
        return (np.sin(tau * (u + p * tri(v / p)) / p + ph) > 0).astype(np.float32)
    if kind == "wavy":
        return (np.sin(tau * (u + .4 * p * np.sin(tau * v / (2 * p))) / p + ph) > 0).astype(np.float32)
    if kind == "chequered":
        return ((np.sin(tau * u / p) * np.sin(tau * v / p)) > 0).astype(np.float32)
    if kind == "polka-dotted":
        du, dv = (u / p) % 1 - .5, (v / p) % 1 - .5
        return (du * du + dv * dv < .08).astype(np.float32)
    if kind == "concentric":
        c = r.uniform(0, n / SS, 2)
        y, x = np.mgrid[0:n, 0:n].astype(np.float32) / SS
        return (np.sin(tau * np.hypot(x - c[0], y - c[1]) / p) > 0).astype(np.float32)
    if kind == "spiralled":
        y, x = np.mgrid[0:n, 0:n].astype(np.float32) / SS - n / SS / 2
        return (np.sin(tau * np.hypot(x, y) / p + 3 * np.arctan2(y, x)) > 0).astype(np.float32)
    if kind == "crosshatched":
        a = np.abs(np.sin(math.pi * (u + v) / p)) < .3
        b = np.abs(np.sin(math.pi * (u - v) / p)) < .3
        return (a | b).astype(np.float32)
    if kind == "grid":
        lines = (np.abs(np.sin(math.pi * u / p)) < .25) | (np.abs(np.sin(math.pi * v / p)) < .25)
        return lines.astype(np.float32)
    if kind == "honeycombed":
        # distance to the nearest centre of a hexagonal lattice, thresholded near the cell edge
        a, b = u / p, (v / p) / math.sqrt(3)
        d1 = np.hypot(a - np.round(a), (b - np.round(b)) * math.sqrt(3))
        d2 = np.hypot(a - .5 - np.round(a - .5), (b - .5 - np.round(b - .5)) * math.sqrt(3))
        return (np.abs(d1 - d2) < .12).astype(np.float32)
    if kind == "marbled":
        turb = smooth_noise(r, n, n, 5, 1)[..., 0] * 6
        return .5 + .5 * np.sin(tau * u / p + turb)
    if kind in ("cracked", "scaly"):
        f1, f2 = _voronoi(n, r, int(14 * scale))
        if kind == "cracked":
            return (f2 - f1 > .9).astype(np.float32)
        return np.clip(f1 / (f1.max() + 1e-6) * 2.2, 0, 1)
    if kind == "woven":
        cu, cv = np.floor(u / p) % 2, np.floor(v / p) % 2
        along = np.where((cu + cv) % 2 == 0, u, v)
        return (np.sin(tau * along * 3 / p) > 0).astype(np.float32) * .8 + .1
    if kind == "blotchy":
        return (smooth_noise(r, n, n, int(5 * scale), 1)[..., 0] > .5).astype(np.float32)
    if kind in ("fibrous", "freckled", "bubbly"):
        img = Image.new("L", (n, n), 0)
        draw = ImageDraw.Draw(img)
        count = int(r.integers(25, 45) * scale)
        theta = r.uniform(0, math.pi)
        for _ in range(count):
            x, y = r.uniform(0, n, 2)
            if kind == "fibrous":  # long thin roughly parallel strokes
                a, ln = theta + r.normal(0, .12), r.uniform(.3, .8) * n
                draw.line([(x, y), (x + ln * math.cos(a), y + ln * math.sin(a))], fill=255, width=SS)
            elif kind == "freckled":
                rad = r.uniform(.6, 1.4) * SS
                draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=int(r.integers(150, 256)))
            else:  # bubbly: outlined circles of varied size
                rad = r.uniform(1.5, 5) * SS / scale
                draw.ellipse([x - rad, y - rad, x + rad, y + rad], outline=255, width=SS)
        return np.asarray(img, np.float32) / 255.0
    if kind == "chevron":
        return (np.sin(tau * (u + np.abs(v % (2 * p) - p)) / p) > 0).astype(np.float32)
    if kind == "studded":
        du, dv = (u / p) % 1 - .5, (v / p) % 1 - .5
        d = np.sqrt(du * du + dv * dv)
        return np.clip(1 - d * 3, 0, 1) ** .5
    if kind == "veined":
        turb = smooth_noise(r, n, n, 4, 1)[..., 0]
        return (np.abs(np.sin(tau * turb * (2 + 2 * scale))) < .15).astype(np.float32)
    if kind == "pleated":
        return .5 + .5 * np.sin(tau * u / p) ** 3
    if kind == "dotted-lines":
        return ((np.abs(np.sin(math.pi * u / p)) < .3) & (np.sin(tau * v / (p / 2)) > 0)).astype(np.float32)
    if kind == "interlaced":
        a = (np.abs(np.sin(math.pi * u / p)) < .35).astype(np.float32)
        b = (np.abs(np.sin(math.pi * v / p)) < .35).astype(np.float32)
        over = (np.floor(u / p) + np.floor(v / p)) % 2 == 0
        return np.where(over, np.maximum(a, .6 * b), np.maximum(b, .6 * a))
    raise ValueError(kind)


def build_dtd(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    classes = [(k, s) for k, scales in PATTERNS.items() for s in scales]
    too_many("dtd", num_classes, len(classes))
    chosen = [classes[i] for i in sorted(rng.permutation(len(classes))[:num_classes])]
    big = size * SS

    def render(label: int, r: np.random.Generator) -> Image.Image:
        kind, scale = chosen[label]
        t = _pattern(kind, scale, big, r)[..., None]
        h = r.random()  # colours drawn per image: a texture class has no colour
        c0 = hsv(h, r.uniform(0, .7), r.uniform(.05, .55))
        c1 = hsv(h + r.normal(0, .15), r.uniform(0, .7), r.uniform(.5, 1))
        if r.random() < .5:
            c0, c1 = c1, c0
        canvas = (1 - t) * c0 + t * c1
        canvas *= .75 + .5 * smooth_noise(r, big, big, 4, 1)  # uneven lighting
        return finish(canvas, r, noise=.04)

    names = tuple(f"{k}-{i}" for k, s in chosen for i in [PATTERNS[k].index(s)])
    return Family(names, render)
