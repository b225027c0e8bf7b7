"""The MiniDecathlon's labels carry its signal: a domain's classes are drawn differently, every
image is drawn as the class its annotation says, and a linear probe on fixed random features
tells a domain's classes apart well above chance on a small generated tree."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from paperlib.data import DOMAINS, load_split, prepare
from paperlib.data.domains import domain_spec
from paperlib.data.mini.generate import SPLIT_CODES, MiniCounts, generate_mini
from paperlib.data.mini.parallel import family_for

SIZE, SEED = 36, 0
CLASSES = 4  # daimlerpedcls has two
# images per class (train, test); daimlerpedcls's two classes (pedestrian or not) need more to show
PROBE = {d: (150, 100) if d == "daimlerpedcls" else (40, 20) for d in DOMAINS}
P_VALUE = 1e-3  # of the probe's test accuracy under chance, per domain


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini-signal")
    counts = {d: MiniCounts(2 if d == "daimlerpedcls" else CLASSES, train, 1, test) for d, (train, test) in PROBE.items()}
    generate_mini(root / "data", seed=SEED, size=SIZE, counts=counts)
    prepare(root / "data", root / "cache", DOMAINS, ["train", "test"], size=SIZE, workers=0)
    return root


@pytest.mark.parametrize("domain", DOMAINS)
def test_classes_differ_when_everything_else_is_the_same(domain):
    """One image's randomness (pose, colours, background, noise) drawn as each class in turn: no
    two classes give the same image."""
    classes = 2 if domain == "daimlerpedcls" else 6
    family = family_for(domain, classes, SEED, SIZE)
    for index in range(3):
        drawn = [np.asarray(family.render(label, np.random.default_rng([SEED, 99, index]))) for label in range(classes)]
        for a, b in itertools.combinations(range(classes), 2):
            assert drawn[a].shape != drawn[b].shape or not np.array_equal(drawn[a], drawn[b]), (domain, a, b)


@pytest.mark.parametrize("domain", ["svhn", "aircraft", "dtd"])
def test_each_image_is_drawn_as_the_class_its_annotation_names(tree, domain):
    """The files against the family drawn again from the annotation's label and the image's own seed."""
    tree_dir = tree / "data" / "decathlon-1.0"
    spec = domain_spec(domain)
    annotation = json.loads((tree_dir / "annotations" / f"{domain}_train.json").read_text())
    label_of = {a["image_id"]: a["category_id"] - spec.id_prefix - 1 for a in annotation["annotations"]}
    family = family_for(domain, CLASSES, SEED, SIZE)

    def jpeg(label: int, i: int) -> bytes:  # as the generator writes them (quality 90)
        buffer = io.BytesIO()
        family.render(label, np.random.default_rng([SEED, spec.index, SPLIT_CODES["train"], i])).save(
            buffer, "JPEG", quality=90)
        return buffer.getvalue()

    for i, image in enumerate(annotation["images"][:12]):
        stored = (tree_dir / image["file_name"]).read_bytes()
        matches = [label for label in range(CLASSES) if jpeg(label, i) == stored]
        assert matches == [label_of[image["id"]]], (domain, image["file_name"], matches)


def _random_features(images: torch.Tensor) -> torch.Tensor:
    """A fixed random two-layer convolutional network (its own generator), pooled: features that
    know nothing of the classes."""
    g = torch.Generator().manual_seed(0)
    x = images.float() / 255
    w1 = torch.randn(64, 3, 5, 5, generator=g)
    w1 -= w1.mean(dim=(1, 2, 3), keepdim=True)
    h = F.avg_pool2d(F.relu(F.conv2d(x - x.mean(dim=(2, 3), keepdim=True), w1, padding=2)), 4)
    h = F.relu(F.conv2d(h, torch.randn(128, 64, 3, 3, generator=g) / 24, padding=1))
    return torch.cat([F.adaptive_avg_pool2d(h, 2).flatten(1), F.adaptive_max_pool2d(h, 1).flatten(1)], 1)


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_linear_probe_tells_the_classes_apart(tree, domain):
    train, test = load_split(tree / "cache", domain, "train"), load_split(tree / "cache", domain, "test")
    f_train, f_test = _random_features(train.images), _random_features(test.images)
    mean, sd = f_train.mean(0), f_train.std(0) + 1e-3
    f_train, f_test = (f_train - mean) / sd, (f_test - mean) / sd
    targets = F.one_hot(train.labels, train.num_classes).float()
    ridge = torch.linalg.solve(f_train.T @ f_train + 10.0 * torch.eye(f_train.shape[1]),
                               f_train.T @ (targets - targets.mean(0)))
    correct = int((f_test @ ridge).argmax(1).eq(test.labels).sum())
    chance = 1 / train.num_classes
    p = stats.binomtest(correct, len(test), chance, alternative="greater").pvalue
    assert p < P_VALUE, (domain, correct / len(test), chance, p)
