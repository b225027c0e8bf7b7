"""augment_batch: shapes, normalisation, determinism, crops and flips (docs/authors_code.md, ResNet-26)."""

import pytest
import torch

from paperlib.data import augment_batch, domain_spec

AIR, SVHN = domain_spec("aircraft"), domain_spec("svhn")


def _batch(b=16, s=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g)


def _unnormalize(x, spec):
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return torch.round((x * std + mean) * 255).to(torch.uint8)


@pytest.mark.parametrize("train", [True, False])
def test_shapes(train):
    x = _batch()
    out = augment_batch(x, AIR, train=train, crop=10)
    assert out.shape == (16, 3, 10, 10) and out.dtype == torch.float32
    full = augment_batch(x, SVHN, train=train, crop=10)  # centre-crop-only: the full image
    assert full.shape == (16, 3, 12, 12)


def test_constant_image_normalisation():
    x = torch.full((2, 3, 8, 8), 200, dtype=torch.uint8)
    for spec in (AIR, SVHN, domain_spec("omniglot")):
        out = augment_batch(x, spec, train=True, crop=6)
        want = (200 / 255 - torch.tensor(spec.mean)) / torch.tensor(spec.std)
        assert torch.allclose(out, want.view(1, 3, 1, 1).expand_as(out), atol=1e-5)


def test_seeded_generator_is_deterministic():
    x = _batch()
    a = augment_batch(x, AIR, train=True, crop=8, generator=torch.Generator().manual_seed(3))
    b = augment_batch(x, AIR, train=True, crop=8, generator=torch.Generator().manual_seed(3))
    c = augment_batch(x, AIR, train=True, crop=8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_crops_are_windows_and_flips_happen():
    x = _batch(b=64)
    g = torch.Generator().manual_seed(0)
    out = _unnormalize(augment_batch(x, AIR, train=True, crop=8, generator=g), AIR)
    flipped = kept = 0
    offsets = set()
    for i in range(64):
        windows = [(t, l, f, x[i, :, t:t + 8, l:l + 8]) for t in range(5) for l in range(5) for f in (0, 1)]
        hits = [(t, l, f) for t, l, f, w in windows if torch.equal(out[i], w.flip(-1) if f else w)]
        assert len(hits) == 1, i  # every output is exactly one window of its own input
        t, l, f = hits[0]
        flipped, kept = flipped + f, kept + (not f)
        offsets.add((t, l))
    assert flipped > 10 and kept > 10 and len(offsets) > 10


def test_test_mode_is_the_centre_crop_and_draws_nothing():
    x = _batch()
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    out = _unnormalize(augment_batch(x, AIR, train=False, crop=8, generator=g), AIR)
    assert torch.equal(out, x[:, :, 2:10, 2:10]) and torch.equal(g.get_state(), state)


def test_centre_crop_only_never_flips():
    x = _batch()
    g = torch.Generator().manual_seed(0)
    out = _unnormalize(augment_batch(x, SVHN, train=True, crop=8, generator=g), SVHN)
    assert torch.equal(out, x)


def test_bad_input():
    with pytest.raises(ValueError):
        augment_batch(_batch().float(), AIR, train=True, crop=8)
    with pytest.raises(ValueError):
        augment_batch(_batch(), AIR, train=True, crop=20)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    x = _batch()
    cpu = augment_batch(x, AIR, train=True, crop=8, generator=torch.Generator().manual_seed(1))
    gpu = augment_batch(x.cuda(), AIR, train=True, crop=8, generator=torch.Generator().manual_seed(1))
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-5)
