"""Joint SVD compression of the adapters (sec. 3.4)."""

import pytest
import torch

from paperlib.model.compress import compress_each, compress_jointly, joint_svd, resolve_rank
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable
from paperlib.model.sizes import count_parameters


def test_reconstruction_error_is_the_norm_of_the_discarded_singular_values():
    torch.manual_seed(0)
    alphas = [torch.randn(16, 16, dtype=torch.float64) for _ in range(4)]
    for k in (1, 4, 8, 15):
        svd = joint_svd(alphas, k)
        residual = torch.cat([a - svd.reconstruct(t) for t, a in enumerate(alphas)], dim=1)
        assert svd.beta.shape == (16, k) and all(g.shape == (16, k) for g in svd.gammas)
        torch.testing.assert_close(residual.norm().item(), svd.residual_norm, rtol=1e-9, atol=1e-9)


def test_top_k_keeps_the_most_energy_and_full_rank_is_exact():
    torch.manual_seed(0)
    alphas = [torch.randn(8, 8, dtype=torch.float64) for _ in range(3)]
    full = joint_svd(alphas, 8)
    for t, a in enumerate(alphas):
        torch.testing.assert_close(full.reconstruct(t), a)
    s = full.singular_values
    kept = joint_svd(alphas, 3)
    energy = sum(a.square().sum() for a in alphas)
    recon = sum(kept.reconstruct(t).square().sum() for t in range(3))
    torch.testing.assert_close(recon, s[:3].square().sum())  # eq. 1 keeps the top-K energy
    assert recon <= energy


def test_shared_basis_orthogonality():
    torch.manual_seed(0)
    svd = joint_svd([torch.randn(6, 6, dtype=torch.float64) for _ in range(3)], 3)
    sigma = svd.singular_values[:3]
    u = svd.beta / sigma
    torch.testing.assert_close(u.T @ u, torch.eye(3, dtype=torch.float64))  # U^T U = I
    vv = sum(g.T @ g for g in svd.gammas)
    torch.testing.assert_close(vv, torch.eye(3, dtype=torch.float64))  # sum_t V_t^T V_t = I


def test_default_rank_is_half_the_channels():
    assert resolve_rank(None, 64, 64) == 32
    assert resolve_rank(None, 32, 3) == 1
    assert resolve_rank(0.25, 64, 64) == 16
    assert resolve_rank(5, 64, 64) == 5


def make_model():
    torch.manual_seed(0)
    model = ResNet26.build([("a", 5), ("b", 3), ("c", 4)], width=0.25, adapter="parallel").eval()
    return model


def test_full_rank_compression_keeps_the_function():
    model = make_model()
    x = torch.randn(2, 3, 16, 16)
    compressed, report = compress_jointly(model, rank=10_000)
    for d in ("a", "b", "c"):
        torch.testing.assert_close(compressed(x, d), model(x, d), rtol=1e-4, atol=1e-4)
    assert all(r.residual_norm < 1e-4 for r in report.values())


def test_half_rank_halves_adapter_parameters_and_trains_gamma_only():
    model = make_model()
    compressed, _ = compress_jointly(model)
    before = count_parameters(model)
    after = count_parameters(compressed)
    # T C K + C K against T C^2: with K = C/2 and T = 3 that is (3 + 1) / 6 of the adapters
    ratio = (after["adapter"] + after["basis"]) / before["adapter"]
    assert 0.6 < ratio < 0.7
    trainable = set_trainable(compressed, "svd", "b")
    assert any(n.endswith("adapters.b.gamma") for n in trainable)
    assert not any(n.endswith(".basis") or ".base." in n for n in trainable)
    compressed(torch.randn(2, 3, 16, 16), "b").sum().backward()
    assert all(p.grad is None for n, p in compressed.named_parameters() if n.endswith(".basis"))


def test_compressed_model_accepts_a_new_domain_on_the_shared_basis():
    compressed, _ = compress_jointly(make_model())
    compressed.add_domain("d", 6, init_from=None)
    assert compressed(torch.randn(1, 3, 16, 16), "d").shape == (1, 6)


def test_single_domain_low_rank_variant():
    model = make_model()
    low = compress_each(model, rank=10_000)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(low(x, "a"), model(x, "a"), rtol=1e-4, atol=1e-4)
    half = compress_each(model)
    trainable = set_trainable(half, "parallel", "a")
    assert any(n.endswith("adapters.a.beta") for n in trainable)


def test_series_adapters_are_refused():
    with pytest.raises(ValueError, match="parallel"):
        compress_jointly(ResNet26.build([("a", 3)], width=0.125, adapter="series"))
