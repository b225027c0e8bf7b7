"""Drawing helpers shared by the MiniDecathlon families: colours, backgrounds, shapes, fonts.

Images are drawn at ``SS`` times the final size and reduced with a box filter, which gives
anti-aliased edges for the price of one ``Image.reduce``. Float canvases are H x W x 3 in [0, 1].
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFont

SS = 2  # supersampling factor


@dataclass(frozen=True)
class Family:
    """A MiniDecathlon domain: its class names and how to draw one image of a class."""

    class_names: tuple[str, ...]
    render: Callable[[int, np.random.Generator], Image.Image]  # (label, rng) -> final image
    grayscale: bool = False  # saved as a one-channel JPEG (omniglot, daimlerpedcls)


def too_many(name: str, asked: int, most: int) -> None:
    if asked > most:
        raise ValueError(f"the mini {name} family has at most {most} classes, {asked} asked")


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def jitter(rng: np.random.Generator, rgb, amount: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float64) + rng.normal(0, amount, 3), 0, 1)


def rgb255(rgb) -> tuple[int, int, int]:
    r, g, b = (int(round(float(c) * 255)) for c in np.clip(rgb, 0, 1))
    return r, g, b


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 3) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a cells x cells random grid upsampled bicubically."""
    grid = rng.integers(0, 256, (cells, cells, channels), dtype=np.uint8)
    img = Image.fromarray(grid.squeeze(-1) if channels == 1 else grid)
    out = np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0
    return out.reshape(h, w, channels)


def gradient(h: int, w: int, angle: float, c0, c1) -> np.ndarray:
    """Linear blend from colour c0 to c1 along direction ``angle`` (radians)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (x - w / 2) * math.cos(angle) + (y - h / 2) * math.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return (1 - t)[..., None] * np.asarray(c0, np.float32) + t[..., None] * np.asarray(c1, np.float32)


def natural_background(rng: np.random.Generator, h: int, w: int, palette=None) -> np.ndarray:
    """A blurry scene: two colours mixed by low-frequency noise, with a random gradient."""
    if palette is None:
        palette = [hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.9)) for _ in range(2)]
    mix = smooth_noise(rng, h, w, int(rng.integers(2, 6)), 1)
    bg = (1 - mix) * palette[0] + mix * palette[1]
    return bg * gradient(h, w, rng.uniform(0, 2 * math.pi), (1, 1, 1), [rng.uniform(0.6, 1.0)] * 3)


def to_image(canvas: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8))


def to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32) / 255.0


def finish(canvas: np.ndarray | Image.Image, rng: np.random.Generator, noise: float,
           grayscale: bool = False) -> Image.Image:
    """Reduce a supersampled canvas to the final size, add pixel noise, quantise."""
    img = canvas if isinstance(canvas, Image.Image) else to_image(canvas)
    arr = to_array(img.reduce(SS))
    if noise > 0:
        arr = arr + rng.normal(0, noise, arr.shape).astype(np.float32)
    img = to_image(arr)
    return img.convert("L") if grayscale else img


def paste(canvas: np.ndarray, layer: Image.Image, color) -> None:
    """Composite a solid colour through an 'L' mask (0..255) onto a float canvas, in place."""
    alpha = to_array(layer)[..., None]
    canvas *= 1 - alpha
    canvas += alpha * np.asarray(color, np.float32)


def paste_texture(canvas: np.ndarray, layer: Image.Image, texture: np.ndarray) -> None:
    """Like ``paste`` with a per-pixel colour (H x W x 3)."""
    alpha = to_array(layer)[..., None]
    canvas *= 1 - alpha
    canvas += alpha * texture


def polygon(cx: float, cy: float, radii, angles, rotation: float = 0.0, sx: float = 1.0,
            sy: float = 1.0) -> list[tuple[float, float]]:
    """Points at polar (radius, angle) around (cx, cy), scaled then rotated."""
    radii, angles = np.broadcast_arrays(np.asarray(radii, float), np.asarray(angles, float))
    x, y = radii * np.cos(angles) * sx, radii * np.sin(angles) * sy
    c, s = math.cos(rotation), math.sin(rotation)
    return list(zip((cx + c * x - s * y).tolist(), (cy + s * x + c * y).tolist()))


def transform_points(points, cx: float, cy: float, scale: float, rotation: float = 0.0,
                     flip: bool = False) -> list[tuple[float, float]]:
    """Map unit-frame points (x right, y down, around 0) to canvas coordinates."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    if flip:
        p = p * np.array([-1.0, 1.0])
    c, s = math.cos(rotation), math.sin(rotation)
    x, y = p[:, 0] * c - p[:, 1] * s, p[:, 0] * s + p[:, 1] * c
    return list(zip((cx + scale * x).tolist(), (cy + scale * y).tolist()))


def font_dir() -> Path:
    """matplotlib's bundled DejaVu fonts: always installed, so no download is needed."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def load_font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_dir() / name), px)


def perspective_coeffs(src, dst) -> list[float]:
    """Coefficients for ``Image.transform(PERSPECTIVE)`` mapping output quad dst to input src."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def random_perspective(img: Image.Image, rng: np.random.Generator, amount: float,
                       resample=Image.BILINEAR) -> Image.Image:
    """Move each corner by up to ``amount`` x size: a small change of viewpoint."""
    w, h = img.size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-amount, amount) * w, y + rng.uniform(-amount, amount) * h) for x, y in src]
    return img.transform((w, h), Image.PERSPECTIVE, perspective_coeffs(src, dst), resample)
