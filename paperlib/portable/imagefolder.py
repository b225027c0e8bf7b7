"""A folder of your own images, in torchvision's ImageFolder layout, as the engine's splits.

    DIR/<class>/<image>              one sub-folder per class: a seeded stratified split
                                     holds out `val_fraction` of each class for validation
    DIR/train/<class>/<image>        or an explicit split (val's classes must be train's)
    DIR/val/<class>/<image>

Classes are the sub-folders in sorted order (as ImageFolder). Every image is decoded once as
the Decathlon cache does (`data.images`: RGB, shorter side to `size`, centre square), into a
uint8 `DomainSplit`. A file that cannot be decoded is skipped and reported; a class folder
without one readable image is an error (its class could be neither learnt nor predicted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from paperlib.core.errors import DataError
from paperlib.core.files import atomic_path
from paperlib.data import DomainSplit
from paperlib.data.images import try_decode

# torchvision's IMG_EXTENSIONS: what ImageFolder itself would pick up
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class ImageFolderData:
    """The train and val splits of one folder, its class names and the files it had to skip."""

    train: DomainSplit
    val: DomainSplit
    class_names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def loader(self, domain: str, split: str) -> DomainSplit:
        """The engine's `loader=` argument: (domain, split) -> DomainSplit."""
        if split not in ("train", "val"):
            raise ValueError(f"an image folder has train and val splits only, not {split!r}")
        return self.train if split == "train" else self.val


def class_folders(root: Path) -> list[Path]:
    """Sub-folders of `root`, sorted (hidden ones ignored); none is an error naming `root`."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; give a folder with one sub-folder of images per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class sub-folders; put each class's images in a folder named after it")
    return folders


def _decode_class(folder: Path, size: int, skipped: list[tuple[str, str]]) -> list[np.ndarray]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    images = []
    for path in files:
        array, reason = try_decode(path, size)
        if array is None:
            skipped.append((str(path), reason))
        else:
            images.append(array)
    return images


def _read_tree(root: Path, size: int, skipped: list[tuple[str, str]],
               class_names: list[str] | None = None) -> tuple[list[str], list[np.ndarray], list[int]]:
    folders = class_folders(root)
    names = [p.name for p in folders]
    if class_names is not None:
        unknown = sorted(set(names) - set(class_names))
        if unknown:
            raise DataError(f"{root}: class folder(s) {unknown} are not in the train split; "
                            "val may only hold classes that train has")
    index = {n: i for i, n in enumerate(class_names or names)}
    images, labels = [], []
    for folder in folders:
        decoded = _decode_class(folder, size, skipped)
        if not decoded:
            raise DataError(f"{folder}: no readable image in this class folder; add images "
                            f"({', '.join(IMAGE_EXTENSIONS)}) or remove the folder")
        images += decoded
        labels += [index[folder.name]] * len(decoded)
    return class_names or names, images, labels


def _split(domain: str, name: str, images: list[np.ndarray], labels: list[int], num_classes: int) -> DomainSplit:
    n = len(labels)
    stacked = torch.from_numpy(np.stack(images)) if images else torch.zeros(0, 3, 1, 1, dtype=torch.uint8)
    return DomainSplit(domain, name, stacked, torch.tensor(labels, dtype=torch.int64),
                       torch.arange(n, dtype=torch.int64), num_classes)


def stratified_holdout(labels: list[int], fraction: float, seed: int) -> list[bool]:
    """Seeded per-class choice of validation images: round(fraction * n_c), at least one when a
    class has two images or more, never a class's last training image."""
    gen = torch.Generator().manual_seed(seed)
    held = [False] * len(labels)
    for c in sorted(set(labels)):
        rows = [i for i, y in enumerate(labels) if y == c]
        k = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        for j in torch.randperm(len(rows), generator=gen)[:k].tolist():
            held[rows[j]] = True
    return held


def read_image_folder(root: str | Path, domain: str, *, size: int, val_fraction: float = 0.2,
                      seed: int = 0) -> ImageFolderData:
    """Decode `root` (either layout above) into train and val `DomainSplit`s of `domain`."""
    root = Path(root)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    skipped: list[tuple[str, str]] = []
    if (root / "train").is_dir() and (root / "val").is_dir():
        names, train_x, train_y = _read_tree(root / "train", size, skipped)
        _, val_x, val_y = _read_tree(root / "val", size, skipped, class_names=names)
    else:
        names, images, labels = _read_tree(root, size, skipped)
        held = stratified_holdout(labels, val_fraction, seed)
        train_x = [x for x, h in zip(images, held) if not h]
        train_y = [y for y, h in zip(labels, held) if not h]
        val_x = [x for x, h in zip(images, held) if h]
        val_y = [y for y, h in zip(labels, held) if h]
    if not val_y:
        raise DataError(f"{root}: no image left for validation; give each class at least two images")
    return ImageFolderData(train=_split(domain, "train", train_x, train_y, len(names)),
                           val=_split(domain, "val", val_x, val_y, len(names)),
                           class_names=names, skipped=skipped)


def write_image_folder(split: DomainSplit, root: str | Path, class_names: list[str] | None = None) -> Path:
    """The images of a prepared split as PNG files, ROOT/<class>/<id>.png (notebook 10 makes a
    folder of 'your own' images from a MiniDecathlon domain this way)."""
    from PIL import Image

    root = Path(root)
    names = class_names or [f"class_{c:03d}" for c in range(split.num_classes)]
    for image, label, image_id in zip(split.images, split.labels.tolist(), split.image_ids.tolist()):
        with atomic_path(root / names[label] / f"{image_id}.png") as tmp:
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
    return root


__all__ = ["ImageFolderData", "IMAGE_EXTENSIONS", "read_image_folder", "write_image_folder", "stratified_holdout",
           "class_folders"]
