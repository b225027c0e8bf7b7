"""daimlerpedcls and ucf101 of the MiniDecathlon: human figures.

daimlerpedcls (docs/authors_code.md: 2 classes, grayscale): a walking or standing pedestrian silhouette
versus urban clutter (poles, windows, bins, hard negatives shaped like a person's outline but
without limbs), at low contrast, with blur and noise.
ucf101 (101 actions; the Decathlon gives *dynamic images*, one image summarising a clip by
rank pooling): an action here is a periodic movement between two key poses of a stick figure
with a prop and a scene; the image is the frames of one cycle summed with rank-pooling-like
weights (-1 .. +1), so the static scene cancels and the motion shows as grey ghosts, as in
UCF101's dynamic images. Images are 4:3, as video frames.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paperlib.data.mini.canvas import SS, Family, finish, hsv, natural_background, smooth_noise, to_array, to_image

# joints of a stick figure: hip at the origin, y down, unit = torso length
JOINTS = ("torso", "l_arm", "l_fore", "r_arm", "r_fore", "l_thigh", "l_shin", "r_thigh", "r_shin")


def skeleton(angles: dict, scale: float, x: float, y: float) -> list[tuple[tuple, tuple, float]]:
    """Segments ((x0, y0), (x1, y1), width) of a figure with its hip at (x, y).

    Angles are radians from straight down (limbs) or straight up (torso)."""
    hip = np.array([x, y])
    t = angles["torso"]
    neck = hip + scale * np.array([math.sin(t), -math.cos(t)])
    segs = [(tuple(hip), tuple(neck), .4)]
    for side in ("l", "r"):
        a1 = angles[f"{side}_arm"]
        elbow = neck + .5 * scale * np.array([math.sin(a1), math.cos(a1)])
        a2 = a1 + angles[f"{side}_fore"]
        hand = elbow + .45 * scale * np.array([math.sin(a2), math.cos(a2)])
        k1 = angles[f"{side}_thigh"]
        knee = hip + .55 * scale * np.array([math.sin(k1), math.cos(k1)])
        k2 = k1 + angles[f"{side}_shin"]
        foot = knee + .55 * scale * np.array([math.sin(k2), math.cos(k2)])
        segs += [(tuple(neck), tuple(elbow), .14), (tuple(elbow), tuple(hand), .11),
                 (tuple(hip), tuple(knee), .2), (tuple(knee), tuple(foot), .16)]
    return segs, neck + scale * .3 * np.array([math.sin(t), -math.cos(t)])


def draw_figure(draw: ImageDraw.ImageDraw, angles: dict, scale: float, x: float, y: float,
                fill, widths: float = 1.0) -> np.ndarray:
    """Draw limbs and head; returns the position of the right hand (props attach there)."""
    segs, head = skeleton(angles, scale, x, y)
    for a, b, w in segs:
        draw.line([a, b], fill=fill, width=max(1, int(w * scale * widths)))
    rh = .2 * scale
    draw.ellipse([head[0] - rh, head[1] - rh, head[0] + rh, head[1] + rh], fill=fill)
    return np.array(segs[2][1])


# ---- daimlerpedcls --------------------------------------------------------------------------

def _walking_pose(r: np.random.Generator) -> dict:
    phase, amp = r.uniform(0, 2 * math.pi), r.uniform(0, .5)
    swing = amp * math.sin(phase)
    return {"torso": r.normal(0, .06), "l_arm": -swing * .8, "l_fore": -abs(r.normal(.2, .1)),
            "r_arm": swing * .8, "r_fore": -abs(r.normal(.2, .1)), "l_thigh": swing,
            "l_shin": abs(r.normal(.1, .1)), "r_thigh": -swing, "r_shin": abs(r.normal(.1, .1))}


def _clutter(draw: ImageDraw.ImageDraw, r: np.random.Generator, n: int, lo: int, hi: int) -> None:
    """Urban structures: poles, windows, edges, bins."""
    for _ in range(int(r.integers(lo, hi))):
        g = int(r.integers(0, 256))
        kind = r.integers(4)
        x, y = r.uniform(0, n, 2)
        if kind == 0:  # pole
            draw.rectangle([x, r.uniform(-n, n * .3), x + r.uniform(1, .08 * n), n], fill=g)
        elif kind == 1:  # window / box
            w, h = r.uniform(.1, .4, 2) * n
            draw.rectangle([x, y, x + w, y + h], fill=g)
        elif kind == 2:  # edge of a building or kerb
            line = ([(x, 0), (x + r.normal(0, n * .2), n)] if r.random() < .5
                    else [(0, y), (n, y + r.normal(0, n * .1))])
            draw.line(line, fill=g, width=int(r.integers(1, 4)))
        else:  # bin, post, bush: a vertical blob of person size, the hard negative
            w, h = r.uniform(.12, .3) * n, r.uniform(.3, .8) * n
            draw.ellipse([x - w / 2, n - h - r.uniform(0, .15 * n), x + w / 2, n], fill=g)


def build_daimlerpedcls(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    if num_classes != 2:
        raise ValueError("the mini daimlerpedcls family has exactly 2 classes")
    n = size * SS

    def render(label: int, r: np.random.Generator) -> Image.Image:
        base = r.uniform(.2, .8)
        field = base + (smooth_noise(r, n, n, int(r.integers(3, 8)), 1)[..., 0] - .5) * r.uniform(.1, .5)
        img = Image.fromarray((np.clip(field, 0, 1) * 255).astype(np.uint8), "L")
        draw = ImageDraw.Draw(img)
        _clutter(draw, r, n, 1, 6)
        # the pedestrian's tone differs from the local background by a random, often small, margin
        tone = int(np.clip(base + r.choice([-1, 1]) * r.uniform(.08, .45), 0, 1) * 255)
        if label == 1:
            scale = n * r.uniform(.25, .32)
            draw_figure(draw, _walking_pose(r), scale, n / 2 + r.normal(0, n * .05),
                        n * .52 + r.normal(0, n * .03), tone, widths=r.uniform(.8, 1.3))
        else:  # sometimes a person-sized upright blob: a bin, a post with a sign
            if r.random() < .5:
                w = n * r.uniform(.08, .25)
                top = n * r.uniform(.05, .3)
                draw.rectangle([n / 2 - w / 2, top, n / 2 + w / 2, n * r.uniform(.8, 1)], fill=tone)
                if r.random() < .5:
                    rh = n * r.uniform(.05, .1)
                    draw.ellipse([n / 2 - rh, top - 2 * rh, n / 2 + rh, top], fill=tone)
        _clutter(draw, r, n, 0, 2)  # occluders in front
        img = img.filter(ImageFilter.GaussianBlur(r.uniform(.5, 1.6)))
        return finish(img.convert("RGB"), r, noise=.05, grayscale=True)

    return Family(("non-pedestrian", "pedestrian"), render, grayscale=True)


# ---- ucf101 ---------------------------------------------------------------------------------

LIMITS = MappingProxyType({
          "torso": (-.6, .6), "l_arm": (-3.0, 3.0), "l_fore": (-2.0, .2), "r_arm": (-3.0, 3.0),
          "r_fore": (-2.0, .2), "l_thigh": (-1.6, 1.6), "l_shin": (0, 2.0), "r_thigh": (-1.6, 1.6),
          "r_shin": (0, 2.0)})
PROPS = ("none", "ball", "stick", "bar", "board")
FRAMES = 6


def build_ucf101(num_classes: int, rng: np.random.Generator, size: int) -> Family:
    actions = []
    for _ in range(num_classes):
        poses = [{j: rng.uniform(*LIMITS[j]) for j in JOINTS} for _ in range(2)]
        actions.append(dict(poses=poses, move=rng.normal(0, .25, 2) * (rng.random() < .5),
                            prop=PROPS[int(rng.integers(len(PROPS)))], scene=rng.random()))
    h, w = size * SS, size * 4 // 3 * SS
    weights = np.linspace(-1, 1, FRAMES)  # rank pooling's weights grow with time

    def render(label: int, r: np.random.Generator) -> Image.Image:
        act = actions[label]
        m = 3 * SS  # margin, so that camera shake never shows the scene's edge
        scene = natural_background(r, h + 2 * m, w + 2 * m,
                                   [hsv(act["scene"] + r.normal(0, .05), r.uniform(.2, .6), v)
                                    for v in (r.uniform(.2, .5), r.uniform(.5, .9))])
        scale = h * r.uniform(.2, .28)
        x0, y0 = w / 2 + r.normal(0, w * .06), h * .45 + r.normal(0, h * .05)
        phase, amount = r.uniform(0, 2 * math.pi), r.uniform(.7, 1.1)
        ink = tuple(int(c) for c in r.integers(0, 256, 3))
        out = np.zeros((h, w, 3), np.float32)
        for k, wt in enumerate(weights):
            s = .5 - .5 * math.cos(phase + 2 * math.pi * k / FRAMES) * amount
            angles = {j: (1 - s) * act["poses"][0][j] + s * act["poses"][1][j] + r.normal(0, .05)
                      for j in JOINTS}
            dy, dx = np.clip(np.round(r.normal(0, SS * .7, 2)), -m, m).astype(int) + m
            img = to_image(scene[dy:dy + h, dx:dx + w])  # hand-held camera: faint scene edges
            draw = ImageDraw.Draw(img)
            x = x0 + act["move"][0] * scale * (k - FRAMES / 2)
            y = y0 + act["move"][1] * scale * (k - FRAMES / 2) * .5
            hand = draw_figure(draw, angles, scale, x, y, ink, widths=.7)
            if act["prop"] == "ball":
                rb = scale * .18
                draw.ellipse([hand[0] - rb, hand[1] - rb, hand[0] + rb, hand[1] + rb], fill=(240, 240, 240))
            elif act["prop"] in ("stick", "bar"):
                a = angles["r_arm"] + angles["r_fore"] + (math.pi / 2 if act["prop"] == "bar" else 0)
                d = scale * .7 * np.array([math.sin(a), math.cos(a)])
                draw.line([tuple(hand - d * (act["prop"] == "bar")), tuple(hand + d)], fill=(60, 40, 20),
                          width=max(1, int(scale * .08)))
            elif act["prop"] == "board":
                draw.rectangle([x - scale * .6, y + scale * 1.05, x + scale * .6, y + scale * 1.15],
                               fill=(90, 60, 30))
            out += wt * to_array(img)
        dynamic = .5 + out / np.abs(weights).sum() * r.uniform(3.0, 5.0)  # std ~.1, as UCF101
        return finish(dynamic, r, noise=.02)

    names = tuple(f"action-{k}-{a['prop']}" for k, a in enumerate(actions))
    return Family(names, render)
