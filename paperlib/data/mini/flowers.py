"""vgg-flowers of the MiniDecathlon: radial flower-like shapes among foliage.

Oxford Flowers (docs/authors_code.md: 102 classes, 10 train images each) is few-shot and fine-grained:
a class here is a petal count, petal shape (oval, pointed, round, notched, ray), length, colour
(hue with a pattern: plain, pale tips or dark veins), a centre colour and size, and one or two
layers. Each image tilts, turns, scales and shifts the flower, jitters its colours and puts it
on leaves, sometimes with a second flower of the same kind cut by the border.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from paperlib.data.mini.canvas import SS, Family, finish, hsv, jitter, rgb255, smooth_noise, to_image

PETALS = ("oval", "pointed", "round", "notched", "ray")


def _petal(kind: str, length: float, width: float) -> np.ndarray:
    """A petal from the origin along +x, as an N x 2 polygon."""
    t = np.linspace(0, 1, 12)
    if kind == "oval":
        half = width * np.sin(math.pi * t)
    elif kind == "pointed":
        half = width * np.sin(math.pi * t) * (1 - t) * 1.6
    elif kind == "round":
        half = width * np.sqrt(np.clip(np.sin(math.pi * t), 0, 1)) * 1.1
    elif kind == "notched":
        half = width * np.sin(math.pi * np.minimum(t * 1.1, 1)) ** .5
    else:  # ray: long and thin
        half = .35 * width * np.sin(math.pi * t)
    x = length * t
    pts = np.concatenate([np.stack([x, half], 1), np.stack([x, -half], 1)[::-1]])
    if kind == "notched":  # a V cut at the tip
        pts = np.concatenate([pts[:12], [[length * .85, 0]], pts[12:]])
    return pts


def _flower(draw: ImageDraw.ImageDraw, cls: dict, cx: float, cy: float, r: float, rot: float,
            tilt: float, colours: list, rng: np.random.Generator) -> None:
    for layer in range(cls["layers"]):
        n = cls["n"]
        length = r * (1.0 if layer == 0 else .6)
        petal = _petal(cls["shape"], length, length * cls["width"])
        for k in range(n):
            a = rot + 2 * math.pi * k / n + (math.pi / n if layer else 0) + rng.normal(0, .05)
            c, s = math.cos(a), math.sin(a)
            x = petal[:, 0] * c - petal[:, 1] * s
            y = (petal[:, 0] * s + petal[:, 1] * c) * tilt
            draw.polygon(list(zip((cx + x).tolist(), (cy + y).tolist())), fill=colours[layer])
            if cls["pattern"] == "veins":
                draw.line([(cx, cy), (cx + .8 * length * c, cy + .8 * length * s * tilt)],
                          fill=colours[2], width=max(1, int(r * .06)))
            elif cls["pattern"] == "tips":
                tip = petal[(petal[:, 0] > .7 * length)]
                xt, yt = tip[:, 0] * c - tip[:, 1] * s, (tip[:, 0] * s + tip[:, 1] * c) * tilt
                if len(tip) > 2:
                    draw.polygon(list(zip((cx + xt).tolist(), (cy + yt).tolist())), fill=colours[2])
    rc = r * cls["centre"]
    draw.ellipse([cx - rc, cy - rc * tilt, cx + rc, cy + rc * tilt], fill=colours[3])


def build_vgg_flowers(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    classes = []
    for _ in range(num_classes):
        classes.append(dict(
            n=int(rng.integers(4, 13)), shape=PETALS[int(rng.integers(len(PETALS)))],
            width=rng.uniform(.22, .45), hue=rng.uniform(.5, 1.17) % 1, sat=rng.uniform(.4, 1),
            pattern=("plain", "tips", "veins")[int(rng.integers(3))], layers=int(rng.integers(1, 3)),
            centre=rng.uniform(.12, .35),
            centre_colour=hsv(rng.choice([.15, .1, .3, .0]), rng.uniform(.5, 1), rng.uniform(.1, .9))))
    big = size * SS

    def render(label: int, r: np.random.Generator) -> Image.Image:
        cls = classes[label]
        leaves = hsv(r.uniform(.2, .4), r.uniform(.3, .8), r.uniform(.15, .55))
        soil = hsv(r.uniform(.05, .12), r.uniform(.3, .7), r.uniform(.1, .4))
        mix = smooth_noise(r, big, big, int(r.integers(3, 7)), 1)
        img = to_image((1 - mix) * leaves + mix * soil)
        draw = ImageDraw.Draw(img)
        for _ in range(int(r.integers(2, 7))):  # leaves
            x, y, a = r.uniform(0, big), r.uniform(0, big), r.uniform(0, math.pi)
            ln, w = r.uniform(.15, .35) * big, r.uniform(.04, .1) * big
            pts = [(x + ln * math.cos(a), y + ln * math.sin(a)), (x - w * math.sin(a), y + w * math.cos(a)),
                   (x - ln * math.cos(a), y - ln * math.sin(a)), (x + w * math.sin(a), y - w * math.cos(a))]
            draw.polygon(pts, fill=rgb255(jitter(r, leaves * r.uniform(.7, 1.4), .05)))
        base = hsv(cls["hue"] + r.normal(0, .025), cls["sat"] * r.uniform(.8, 1.1), r.uniform(.6, 1))
        colours = [rgb255(base), rgb255(base * r.uniform(.75, .95)),
                   rgb255(np.clip(base * .4 + (.55 if cls["pattern"] == "tips" else 0), 0, 1)),
                   rgb255(jitter(r, cls["centre_colour"], .05))]
        if r.random() < .3:  # a second flower of the same kind, partly outside
            _flower(draw, cls, r.choice([0, big]) + r.normal(0, big * .1), r.uniform(0, big),
                    big * r.uniform(.2, .35), r.uniform(0, 6.3), r.uniform(.6, 1), colours, r)
        c = big / 2 + r.normal(0, big * .06, 2)
        _flower(draw, cls, c[0], c[1], big * r.uniform(.28, .45), r.uniform(0, 2 * math.pi),
                r.uniform(.55, 1), colours, r)
        return finish(img, r, noise=.03)

    names = tuple(f"{c['shape']}-{c['n']}-petals-{i}" for i, c in enumerate(classes))
    return Family(names, render)
