"""Decode one image file into the cache format: uint8 (3, size, size) RGB.

As the authors' loader (docs/authors_code.md: Resize(72) on the shorter side), every image is converted
to RGB with PIL's ``convert("RGB")`` (grayscale, CMYK, palette, RGBA: the alpha channel is
dropped, as torchvision's ``pil_loader`` does), its shorter side resized to ``size`` (bilinear,
as torchvision's Resize), then centre-cropped to ``size x size`` so that every domain fits one
fixed-shape array. Random crops are later taken inside this square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size``, keeping the aspect ratio (torchvision's rounding)."""
    w, h = img.size
    if min(w, h) == size:
        return img
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    return img.resize(new, Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """torchvision's CenterCrop offsets: round((W - size) / 2)."""
    w, h = img.size
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """uint8 (3, size, size); raises OSError / ValueError (PIL's) for an unreadable file."""
    with Image.open(path) as img:
        # JPEG only: decode at a reduced DCT scale when the file is much larger than needed
        img.draft("RGB", (size, size))
        img = img.convert("RGB")  # also forces the full decode, so truncation shows here
    img = center_crop(resize_shorter(img, size), size)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def try_decode(path: str | Path, size: int) -> tuple[np.ndarray | None, str]:
    """(array, "") or (None, reason): a corrupt file is a reported value, never a crash."""
    try:
        return decode_image(path, size), ""
    except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        return None, f"{type(err).__name__}: {err}"
