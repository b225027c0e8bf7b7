"""Properties of the train / test transforms (data/augment.py) against their definitions
(docs/authors_code.md, ResNet-26): RandomCrop(crop) draws every offset 0..S-crop on both axes,
the flip is a horizontal mirror, CenterCrop takes torchvision's centre on any leading dims,
Normalize uses the domain's mean/std, and the crop must fit: 0 < crop <= S."""

from __future__ import annotations

import pytest
import torch

from paperlib.data import augment_batch, domain_spec
from paperlib.data.augment import center_crop, random_crop_flip

AIR = domain_spec("aircraft")


def _images(b: int, s: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g)


def test_random_crop_reaches_every_offset_and_flips_are_mirror_images():
    """Every output is the window at (top, left) of its own input, mirrored left-right or not;
    over many samples every top and every left in 0..S-crop occurs (RandomCrop draws them
    uniformly, the borders included), and both flipped and unflipped samples occur."""
    s, crop, b = 9, 6, 400
    x = _images(b, s, 21)
    out = random_crop_flip(x, crop, torch.Generator().manual_seed(22))
    assert out.shape == (b, 3, crop, crop) and out.dtype == torch.uint8
    tops, lefts, flips = set(), set(), set()
    for i in range(b):
        hits = [(t, l, f) for t in range(s - crop + 1) for l in range(s - crop + 1) for f in (0, 1)
                if torch.equal(out[i], x[i, :, t:t + crop, l:l + crop].flip(-1) if f else x[i, :, t:t + crop, l:l + crop])]
        assert len(hits) == 1, i
        t, l, f = hits[0]
        tops.add(t), lefts.add(l), flips.add(f)
    assert tops == lefts == set(range(s - crop + 1)) and flips == {0, 1}


@pytest.mark.parametrize("size", [7, 8])
def test_centre_crop_takes_the_centre_on_any_leading_dims(size):
    """torchvision's CenterCrop offsets round((S - crop) / 2) on the last two dims, whatever
    comes before them (one image, a batch, a plane)."""
    g = torch.Generator().manual_seed(23)
    crop = 4
    top = int(round((size - crop) / 2.0))
    for shape in ((size, size), (3, size, size), (2, 3, size, size)):
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        assert torch.equal(center_crop(x, crop), x[..., top:top + crop, top:top + crop])


def test_normalisation_uses_the_domain_mean_and_std_per_channel():
    """(v / 255 - mean[c]) / std[c] on every pixel of channel c, for random images, in train mode
    with a full-size crop (a permutation of the pixels) and in test mode."""
    x = _images(4, 6, 24)
    for name in ("aircraft", "dtd", "svhn", "omniglot"):
        spec = domain_spec(name)
        mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
        want = (x.double() / 255 - mean.double()) / std.double()
        got = augment_batch(x, spec, train=False, crop=6)
        assert got.dtype == torch.float32 and torch.allclose(got.double(), want, atol=1e-5)
        if not spec.center_crop_only:
            flat = augment_batch(x, spec, train=True, crop=6, generator=torch.Generator().manual_seed(25))
            for c in range(3):
                assert torch.allclose(flat[:, c].double().flatten(1).sort().values,
                                      want[:, c].flatten(1).sort().values, atol=1e-5)


def test_the_crop_must_fit_and_a_bad_batch_is_named():
    """crop 1 and crop S are valid (S is the identity window); crop 0 or S + 1 is a ValueError that
    names the crop and the size; a batch that is not uint8 (B, 3, S, S) is a ValueError naming
    its dtype and shape."""
    x = _images(3, 8, 26)
    for train in (True, False):
        assert augment_batch(x, AIR, train=train, crop=1, generator=torch.Generator().manual_seed(0)).shape == (3, 3, 1, 1)
        full = augment_batch(x, AIR, train=train, crop=8, generator=torch.Generator().manual_seed(0))
        assert full.shape == (3, 3, 8, 8)
        for bad in (0, 9):
            with pytest.raises(ValueError, match=f"crop {bad} .*size 8"):
                augment_batch(x, AIR, train=train, crop=bad)
    for bad in (x[:, :1], x.float(), x[0]):
        with pytest.raises(ValueError, match=r"uint8 \(B, 3, S, S\).*" + str(tuple(bad.shape)).replace("(", r"\(").replace(")", r"\)")):
            augment_batch(bad, AIR, train=True, crop=4)


def test_a_batch_on_a_gpu_stays_there_with_every_constant_moved_to_it():
    """augment_batch takes a batch on any device and returns it on the same device: the crop
    indices (drawn on the CPU generator) and the domain's mean and std must follow the batch
    there. Checked without a GPU on fake CUDA tensors (torch's FakeTensorMode: shapes, dtypes and
    devices only, and the same "all tensors on the same device" check as a real CUDA kernel)."""
    fake_tensor = pytest.importorskip("torch._subclasses.fake_tensor")
    with fake_tensor.FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(4, 3, 8, 8, dtype=torch.uint8, device="cuda")
        for spec in (AIR, domain_spec("svhn")):
            for train in (True, False):
                out = augment_batch(x, spec, train=train, crop=6, generator=torch.Generator().manual_seed(27))
                size = 8 if spec.center_crop_only else 6
                assert out.device == x.device and out.dtype == torch.float32 and out.shape == (4, 3, size, size)
