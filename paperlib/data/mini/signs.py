"""gtsrb of the MiniDecathlon: traffic-sign pictograms seen under varied viewpoint and light.

GTSRB (docs/authors_code.md: 43 classes; centre crop only, no flip) signs are told apart by shape, border
and fill colour and a symbol; here 43 classes mirror its groups (speed limits, prohibitions, ends
of restriction, warning triangles, blue mandatory arrows, stop / yield / priority / no entry).
Each image jitters the viewpoint (perspective), scale, position, lighting (often dark, as GTSRB),
blur and background.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paperlib.data.mini.canvas import (
    SS,
    Family,
    finish,
    jitter,
    load_font,
    natural_background,
    polygon,
    random_perspective,
    to_array,
    too_many,
)

RED, WHITE, BLUE, BLACK, GREY, YELLOW = ((200, 20, 30), (240, 240, 240), (20, 60, 170),
                                         (20, 20, 20), (130, 130, 130), (245, 190, 20))
# (name, plate, symbol): plate = shape/colour scheme, symbol = text or pictogram
SIGNS = tuple(
    [(f"speed-{v}", "ring", f"t:{v}") for v in (20, 30, 50, 60, 70, 80, 100, 120)]
    + [("no-overtaking", "ring", "p:cars"), ("no-trucks", "ring", "p:truck"),
       ("weight-limit", "ring", "t:3.5"), ("no-bicycles", "ring", "p:bicycle")]
    + [("end-all", "end", "p:none"), ("end-speed-80", "end", "t:80"), ("end-no-overtaking", "end", "p:cars")]
    + [(f"warning-{s}", "triangle", f"p:{s}") for s in (
        "exclamation", "curve-left", "curve-right", "double-curve", "bump", "slippery", "narrows",
        "roadwork", "signals", "pedestrian", "children", "bicycle", "snow", "deer", "crossing")]
    + [(f"mandatory-{s}", "blue", f"p:{s}") for s in (
        "ahead", "right", "left", "ahead-right", "ahead-left", "keep-right", "keep-left", "roundabout")]
    + [("stop", "octagon", "t:STOP"), ("yield", "yield", "p:none"), ("priority-road", "diamond", "p:none"),
       ("no-entry", "noentry", "p:none"), ("no-vehicles", "ring", "p:none")]
)


def _arrow(d: ImageDraw.ImageDraw, pts, w: float, color) -> None:
    """A polyline with an arrow head at its last point."""
    d.line(pts, fill=color, width=max(1, int(w)), joint="curve")
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    a = math.atan2(y1 - y0, x1 - x0)
    head = [(x1 + 1.2 * w * math.cos(a), y1 + 1.2 * w * math.sin(a)),
            (x1 + 1.3 * w * math.cos(a + 2.2), y1 + 1.3 * w * math.sin(a + 2.2)),
            (x1 + 1.3 * w * math.cos(a - 2.2), y1 + 1.3 * w * math.sin(a - 2.2))]
    d.polygon(head, fill=color)


def _pictogram(d: ImageDraw.ImageDraw, name: str, c: float, s: float, color) -> None:
    """Draw a symbol of half-size ``s`` centred at (c, c)."""
    P = lambda x, y: (c + x * s, c + y * s)  # noqa: E731 -- unit to pixels
    w = .18 * s
    if name == "cars":
        for x, col in ((-.45, BLACK), (.45, RED if color == BLACK else color)):
            d.rectangle([P(x - .3, -.2), P(x + .3, .35)], fill=col)
            d.rectangle([P(x - .2, -.45), P(x + .2, -.2)], fill=col)
    elif name == "truck":
        d.rectangle([P(-.7, -.4), P(.3, .3)], fill=color)
        d.rectangle([P(.35, -.15), P(.7, .3)], fill=color)
        for x in (-.45, .45):
            d.ellipse([P(x - .15, .25), P(x + .15, .55)], fill=color)
    elif name == "bicycle":
        for x in (-.45, .45):
            d.ellipse([P(x - .3, 0), P(x + .3, .6)], outline=color, width=max(1, int(w * .6)))
        d.line([P(-.45, .3), P(0, -.2), P(.45, .3)], fill=color, width=max(1, int(w * .6)))
    elif name == "exclamation":
        d.rectangle([P(-.1, -.6), P(.1, .2)], fill=color)
        d.ellipse([P(-.12, .35), P(.12, .59)], fill=color)
    elif name in ("curve-left", "curve-right"):
        k = -1 if name == "curve-left" else 1
        _arrow(d, [P(0, .6), P(0, 0), P(.45 * k, -.45)], w, color)
    elif name == "double-curve":
        d.line([P(-.1, .6), P(.25, .2), P(-.25, -.2), P(.1, -.6)], fill=color, width=int(w))
    elif name == "bump":
        d.pieslice([P(-.6, -.2), P(.6, .8)], 180, 360, fill=color)
    elif name == "slippery":
        d.rectangle([P(-.3, -.5), P(.3, -.1)], fill=color)
        d.line([P(-.5, .2), P(-.2, .5), P(0, .2), P(.2, .5), P(.5, .2)], fill=color, width=int(w * .6))
    elif name == "narrows":
        d.line([P(-.35, .6), P(-.35, 0), P(-.15, -.6)], fill=color, width=int(w))
        d.line([P(.35, .6), P(.35, 0), P(.15, -.6)], fill=color, width=int(w))
    elif name in ("roadwork", "pedestrian", "children"):
        xs = (-.3, .3) if name == "children" else (0,)
        for x in xs:
            d.ellipse([P(x - .12, -.65), P(x + .12, -.41)], fill=color)
            d.line([P(x, -.4), P(x, .15), P(x - .25, .6)], fill=color, width=int(w * .7))
            d.line([P(x, .15), P(x + .25, .6)], fill=color, width=int(w * .7))
            d.line([P(x - .3, -.1), P(x, -.3), P(x + .3, -.1)], fill=color, width=int(w * .6))
        if name == "roadwork":
            d.polygon([P(.3, .6), P(.7, .6), P(.5, .25)], fill=color)
    elif name == "signals":
        d.rectangle([P(-.22, -.65), P(.22, .65)], fill=BLACK)
        for y, col in ((-.4, RED), (0, YELLOW), (.4, (30, 160, 60))):
            d.ellipse([P(-.14, y - .14), P(.14, y + .14)], fill=col)
    elif name == "snow":
        for a in range(3):
            t = a * math.pi / 3
            d.line([P(-.55 * math.cos(t), -.55 * math.sin(t)), P(.55 * math.cos(t), .55 * math.sin(t))],
                   fill=color, width=int(w * .6))
    elif name == "deer":
        d.ellipse([P(-.5, -.15), P(.3, .2)], fill=color)
        d.line([P(.2, 0), P(.45, -.4)], fill=color, width=int(w * .8))
        d.line([P(.45, -.4), P(.35, -.65), P(.55, -.6)], fill=color, width=int(w * .4))
        for x in (-.4, -.25, .05, .2):
            d.line([P(x, .1), P(x, .6)], fill=color, width=int(w * .5))
    elif name == "crossing":
        d.line([P(0, -.65), P(0, .65)], fill=color, width=int(w))
        d.line([P(-.55, 0), P(.55, 0)], fill=color, width=int(w * .6))
    elif name == "ahead":
        _arrow(d, [P(0, .65), P(0, -.4)], w * 1.3, color)
    elif name in ("right", "left"):
        k = 1 if name == "right" else -1
        _arrow(d, [P(-.1 * k, .65), P(-.1 * k, 0), P(.4 * k, 0)], w * 1.3, color)
    elif name in ("ahead-right", "ahead-left"):
        k = 1 if name == "ahead-right" else -1
        _arrow(d, [P(-.15 * k, .65), P(-.15 * k, -.45)], w, color)
        _arrow(d, [P(-.15 * k, .25), P(.15 * k, -.05), P(.45 * k, -.05)], w, color)
    elif name in ("keep-right", "keep-left"):
        k = 1 if name == "keep-right" else -1
        _arrow(d, [P(-.4 * k, -.4), P(.3 * k, .3)], w * 1.3, color)
    elif name == "roundabout":
        for a in (0, 2.1, 4.2):
            pts = [P(.45 * math.cos(a + t), .45 * math.sin(a + t)) for t in (0, .5, 1.0, 1.4)]
            _arrow(d, pts, w * .8, color)


def _draw_sign(plate: str, symbol: str, n: int, font) -> Image.Image:
    """The sign on a transparent n x n canvas (RGBA), radius ~0.45 n."""
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c, r = n / 2, .46 * n
    ink = BLACK
    if plate in ("ring", "end", "noentry", "blue"):
        fill = {"ring": WHITE, "end": WHITE, "noentry": RED, "blue": BLUE}[plate]
        d.ellipse([c - r, c - r, c + r, c + r], fill=RED if plate in ("ring", "noentry") else fill)
        if plate == "ring":
            d.ellipse([c - .75 * r, c - .75 * r, c + .75 * r, c + .75 * r], fill=WHITE)
        elif plate == "end":
            d.ellipse([c - r, c - r, c + r, c + r], outline=BLACK, width=max(1, n // 40))
            ink = GREY
        elif plate == "noentry":
            d.rectangle([c - .65 * r, c - .16 * r, c + .65 * r, c + .16 * r], fill=WHITE)
        else:
            ink = WHITE
    elif plate in ("triangle", "yield"):
        up = plate == "triangle"
        corners = [-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        cy = c + (.15 if up else -.15) * r
        d.polygon(polygon(c, cy, 1.15 * r, corners, 0 if up else math.pi), fill=RED)
        d.polygon(polygon(c, cy, .75 * r, corners, 0 if up else math.pi), fill=WHITE)
    elif plate == "octagon":
        d.polygon(polygon(c, c, r, [math.pi / 8 + k * math.pi / 4 for k in range(8)]), fill=RED)
        ink = WHITE
    elif plate == "diamond":
        d.polygon(polygon(c, c, r, [k * math.pi / 2 for k in range(4)]), fill=WHITE)
        d.polygon(polygon(c, c, .7 * r, [k * math.pi / 2 for k in range(4)]), fill=YELLOW)
    kind, _, value = symbol.partition(":")
    if kind == "t":
        box = d.textbbox((0, 0), value, font=font)
        scale = min(1.0, 1.05 * r / max(1, box[2] - box[0]))
        f = font if scale >= 1 else font.font_variant(size=max(6, int(font.size * scale)))
        d.text((c, c), value, fill=ink, font=f, anchor="mm")
    elif value != "none":
        _pictogram(d, value, c + (.12 * r if plate == "triangle" else 0), .55 * r, ink)
    if plate == "end":
        d.line([c - .7 * r, c + .7 * r, c + .7 * r, c - .7 * r], fill=GREY, width=max(1, n // 25))
    return img


def build_gtsrb(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    too_many("gtsrb", num_classes, len(SIGNS))
    chosen = [SIGNS[i] for i in sorted(rng.permutation(len(SIGNS))[:num_classes])]
    big = size * SS
    font = load_font("DejaVuSans-Bold.ttf", int(big * .36))
    signs = [_draw_sign(plate, symbol, big, font) for _, plate, symbol in chosen]

    def render(label: int, r: np.random.Generator) -> Image.Image:
        canvas = natural_background(r, big, big)
        sign = random_perspective(signs[label], r, .08).rotate(r.normal(0, 5), Image.BILINEAR)
        side = int(big * r.uniform(.6, .95))
        sign = sign.resize((side, side), Image.BILINEAR)
        tint = jitter(r, (1, 1, 1), .08)  # colour cast of the light
        rgba = to_array(sign)
        x, y = (big - side) // 2 + r.integers(-big // 12, big // 12 + 1, 2)
        layer = np.zeros((big, big, 4), np.float32)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, big), min(y + side, big)
        layer[y0:y1, x0:x1] = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
        a = layer[..., 3:]
        canvas = canvas * (1 - a) + layer[..., :3] * tint * a
        canvas *= r.uniform(.25, 1.25)  # GTSRB has many dark and some washed out images
        img = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))
        if r.random() < .5:
            img = img.filter(ImageFilter.GaussianBlur(r.uniform(.3, 1.5)))
        return finish(img, r, noise=.03)

    return Family(tuple(name for name, _, _ in chosen), render)
