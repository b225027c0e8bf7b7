"""Visual Decathlon data: reader, decode-once cache, batched augmentation, MiniDecathlon.

Facts (ids, normalisation, crops, layout) come from docs/authors_code.md; see each module's docstring.
Typical use::

    prepare(root, cache_dir, size=72)                  # once: decode every image to .npy
    split = load_split(cache_dir, "aircraft", "train") # uint8 tensors, memory-mapped
    x = augment_batch(split.images[idx].to(dev), domain_spec("aircraft"), train=True, crop=64)

The MiniDecathlon's generator is `paperlib.data.mini.generate.generate_mini`, not re-exported
here: the run spec imports this package, and it loads none of the drawing.
"""

from paperlib.data.augment import augment_batch
from paperlib.data.cache import DomainSplit, load_split, prepare
from paperlib.data.check import CheckReport, check
from paperlib.data.decathlon import SPLITS, read_split
from paperlib.data.domains import DOMAINS, DomainSpec, domain_spec
from paperlib.data.download import download
from paperlib.data.mini.counts import MiniCounts
from paperlib.data.samples import plot_mini_samples
from paperlib.data.submission import write_submission

__all__ = [
    "DOMAINS", "SPLITS", "CheckReport", "DomainSpec", "DomainSplit", "MiniCounts",
    "augment_batch", "check", "domain_spec", "download", "load_split",
    "plot_mini_samples", "prepare", "read_split", "write_submission",
]
