"""The data-pipeline figure of `paperlib bench`: the decoded uint8 cache with batched tensor
augmentation against the authors' pipeline (a PIL JPEG decode and torchvision transforms per
image in a DataLoader), both over the same first images of one training split."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from paperlib.bench.core import DOMAIN, Plan, Setting, _paired_ratio, _timed
from paperlib.data import augment_batch, domain_spec, load_split, prepare, read_split
from paperlib.data.mini.generate import generate_mini
from paperlib.data.decathlon import available_domains


class JpegFolder(torch.utils.data.Dataset):
    """The authors' pipeline: open and decode one JPEG with PIL per sample, then transforms."""

    def __init__(self, paths: list[Path], labels: list[int], transform: Callable):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        with open(self.paths[i], "rb") as f:  # torchvision's pil_loader
            img = Image.open(f).convert("RGB")
        return self.transform(img), self.labels[i]


def _data_tree(setting: Setting, plan: Plan, tmp: Path) -> tuple[Path, str]:
    if plan.data_root is not None:
        return Path(plan.data_root), str(plan.data_root)

    root = tmp / "tree"
    generate_mini(root, seed=0, size=setting.image, scale=plan.mini_scale, domains=(DOMAIN,))
    return root, f"generated MiniDecathlon ({DOMAIN}, seed 0, {setting.image} px, scale {plan.mini_scale:g})"


def bench_data(setting: Setting, plan: Plan) -> dict:
    from torchvision import transforms

    dev = torch.device(plan.device)
    batch = plan.batch_for(setting.name)
    with tempfile.TemporaryDirectory(prefix="paperlib-bench-") as tmp:
        root, tree = _data_tree(setting, plan, Path(tmp))
        domains = available_domains(root)
        cropped = [d for d in domains if not domain_spec(d).center_crop_only]
        domain = DOMAIN if DOMAIN in domains else (cropped or list(domains))[0]
        spec = domain_spec(domain)
        index = read_split(root, domain, "train")

        start = time.perf_counter()  # decode once (a one-off, not part of the per-epoch figure)
        prepare(root, Path(tmp) / "cache", [domain], ["train"], size=setting.image)
        prepare_s = time.perf_counter() - start
        split = load_split(Path(tmp) / "cache", domain, "train")
        n = min(len(split), plan.data_images)  # both pipelines read the same first n images
        images, labels = split.images[:n].clone().to(dev), split.labels[:n].to(dev)
        g = torch.Generator().manual_seed(0)
        epochs = max(1, math.ceil(plan.data_images / n))

        def ours() -> None:
            for _ in range(epochs):
                order = torch.randperm(n, generator=g).to(dev)
                for s in range(0, n, batch):  # the (x, y) a training step would consume
                    idx = order[s:s + batch]
                    augment_batch(images[idx], spec, train=True, crop=setting.crop, generator=g), labels[idx]

        crop = (transforms.CenterCrop(setting.image) if spec.center_crop_only else
                transforms.Compose([transforms.RandomCrop(setting.crop), transforms.RandomHorizontalFlip()]))
        transform = transforms.Compose([transforms.Resize(setting.image), crop, transforms.ToTensor(),
                                        transforms.Normalize(spec.mean, spec.std)])
        dataset = JpegFolder([index.path(i) for i in range(n)], index.labels[:n].tolist(), transform)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=plan.workers,
                                             pin_memory=dev.type == "cuda", persistent_workers=plan.workers > 0)

        def reference() -> None:
            for _ in range(epochs):
                for x, y in loader:
                    x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

        samples = _timed({"ours": ours, "reference": reference}, plan, inner=1)
        loader = None  # the last reference to it: its persistent workers stop
    result: dict = {"domain": domain, "tree": tree, "images": n, "batch": batch, "epochs_per_repeat": epochs}
    for name in ("ours", "reference"):
        median = statistics.median(samples[name])
        result[name] = {"median_s": median, "samples_s": samples[name], "images_per_s": epochs * n / median}
    result["ours"]["prepare_s"] = prepare_s  # the whole train split
    result["ours"]["prepare_images_per_s"] = len(split) / prepare_s
    result["reference"]["workers"] = plan.workers
    result["ratios"] = {"ours/reference": _paired_ratio(samples["reference"], samples["ours"])}  # time ref / ours
    return result
