"""Each MiniDecathlon domain's class designs: domain -> the builder of its family (one module per
family of domains)."""

from __future__ import annotations

from paperlib.data.mini.figures import build_daimlerpedcls, build_ucf101
from paperlib.data.mini.flowers import build_vgg_flowers
from paperlib.data.mini.glyphs import build_omniglot, build_svhn
from paperlib.data.mini.objects import build_cifar100
from paperlib.data.mini.signs import build_gtsrb
from paperlib.data.mini.source import build_imagenet12
from paperlib.data.mini.textures import build_dtd
from paperlib.data.mini.vehicles import build_aircraft


def builders():
    return {
        "aircraft": build_aircraft, "cifar100": build_cifar100, "daimlerpedcls": build_daimlerpedcls,
        "dtd": build_dtd, "gtsrb": build_gtsrb, "imagenet12": build_imagenet12,
        "omniglot": build_omniglot, "svhn": build_svhn, "ucf101": build_ucf101,
        "vgg-flowers": build_vgg_flowers,
    }
