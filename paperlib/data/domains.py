"""The ten Visual Decathlon domains: names, id prefixes, normalisation and crop policy.

Facts from docs/authors_code.md:
- domain indices (the prefix of category and image ids, `index * 10**7`): aircraft=1, cifar100=2,
  daimlerpedcls=3, dtd=4, gtsrb=5, imagenet12=6, omniglot=7, svhn=8, ucf101=9, vgg-flowers=10;
- per-channel mean / std used by the authors (single values broadcast to the three channels);
- gtsrb, omniglot and svhn are centre-cropped to the full image for train and test, with no flip
  (digits, signs and glyphs are not mirror-symmetric); the others train on RandomCrop + flip.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "imagenet12"  # the domain the shared network is pretrained on (the paper's ImageNet)
# the nine target domains in Table 1's column order
TARGETS: tuple[str, ...] = ("aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb", "vgg-flowers", "omniglot", "svhn",
                            "ucf101")
DOMAINS: tuple[str, ...] = (
    "aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb",
    "imagenet12", "omniglot", "svhn", "ucf101", "vgg-flowers",
)

# Category id = domain index * ID_BASE + 1-based class number (docs/authors_code.md, "Ids").
ID_BASE = 10**7

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class DomainSpec:
    """What the input pipeline needs to know about one domain."""

    name: str
    index: int  # 1-based domain index, the id prefix
    mean: Triple  # per channel, images scaled to [0, 1]
    std: Triple
    center_crop_only: bool  # True: CenterCrop(full size) train and test, no flip

    @property
    def id_prefix(self) -> int:
        """The smallest id of the domain: category ids are ``id_prefix + 1 + label``."""
        return self.index * ID_BASE


def _rgb(*v: float) -> Triple:
    return (v[0], v[0], v[0]) if len(v) == 1 else (v[0], v[1], v[2])


# (mean, std, center_crop_only) per domain, in DOMAINS order; a function, not a mutable global.
def _table() -> dict[str, tuple[Triple, Triple, bool]]:
    return {
        "aircraft": (_rgb(.4798, .5107, .5344), _rgb(.2107, .2051, .2373), False),
        "cifar100": (_rgb(.5071, .4867, .4408), _rgb(.2675, .2565, .2761), False),
        "daimlerpedcls": (_rgb(.4820), _rgb(.2361), False),
        "dtd": (_rgb(.5270, .4703, .4240), _rgb(.2523, .2409, .2499), False),
        "gtsrb": (_rgb(.3392, .3118, .3205), _rgb(.2756, .2658, .2709), True),
        "imagenet12": (_rgb(.485, .456, .406), _rgb(.229, .224, .225), False),
        "omniglot": (_rgb(.0810), _rgb(.2705), True),
        "svhn": (_rgb(.4377, .4438, .4728), _rgb(.1980, .2010, .1970), True),
        "ucf101": (_rgb(.4995, .4988, .4998), _rgb(.1090, .1081, .1068), False),
        "vgg-flowers": (_rgb(.4341, .3831, .2971), _rgb(.2851, .2384, .2640), False),
    }


def domain_spec(name: str) -> DomainSpec:
    """The spec of one domain; an unknown name raises ValueError listing the valid ones."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; valid domains: {', '.join(DOMAINS)}")
    mean, std, center_only = _table()[name]
    return DomainSpec(name=name, index=DOMAINS.index(name) + 1, mean=mean, std=std,
                      center_crop_only=center_only)


def check_domains(names) -> tuple[str, ...]:
    """Validate domain names (ValueError on an unknown one); keeps the given order.
    A single name is accepted as a one-element list."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        domain_spec(name)
    return names
