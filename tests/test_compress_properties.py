"""Properties of the cross-domain adapter compression (paper sec. 3.4) that the design states:
resolve_rank's rules, joint_svd's input checks and dtypes, compressing a subset of the domains,
the frozen shared basis, copies by default, and refusals that name the layer.

Tiny widths and inputs: every test runs in well under a second on one core.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from paperlib.model.adapters import AdaptedConv, LowRankAdapter, ParallelAdapter, adapted_convs, fuse_adapters
from paperlib.model.compress import compress_each, compress_jointly, joint_svd, resolve_rank
from paperlib.model.resnet import ResNet26


@contextlib.contextmanager
def seeded(seed: int):
    """Module constructors draw from torch's global generator: fork it so the test is hermetic."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def model3(seed: int = 0, **kw) -> ResNet26:
    with seeded(seed):
        return ResNet26.build([("a", 5), ("b", 3), ("c", 4)], width=0.125, adapter="parallel", **kw).eval()


def randn(*shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_resolve_rank_rules():
    """K: None -> C/2 with C = min(C_out, C_in); a float in (0, 1] -> that fraction of C (1.0 is
    full rank, 0 and above 1 are refused naming the value); an int -> itself; a callable ->
    rank(C_out, C_in) in that order, cast to int; always at least 1."""
    assert resolve_rank(None, 8, 1) == 1  # C/2 = 0 -> 1
    assert resolve_rank(None, 6, 10) == 3
    assert resolve_rank(1.0, 8, 6) == 6
    assert resolve_rank(0.5, 6, 8) == 3
    assert resolve_rank(0.1, 4, 4) == 1  # round(0.4) = 0 -> 1
    assert resolve_rank(0, 8, 8) == 1
    assert resolve_rank(-3, 8, 8) == 1
    assert resolve_rank(7, 8, 8) == 7
    assert resolve_rank(lambda c_out, c_in: c_out - c_in, 10, 4) == 6
    assert resolve_rank(lambda c_out, c_in: c_out / c_in, 10, 4) == 2  # 2.5 -> int
    for bad in (0.0, 1.5, -0.5):
        with pytest.raises(ValueError, match=rf"^a fractional rank must be in \(0, 1\], got {bad}$"):
            resolve_rank(bad, 8, 8)


def test_joint_svd_checks_its_input_and_keeps_the_dtype():
    """joint_svd takes T matrices of one shape (refusing anything else, naming the shapes) and
    returns beta, the gammas and the singular values in the adapters' dtype (float32 here)."""
    with pytest.raises(ValueError, match="^joint_svd needs at least one adapter matrix$"):
        joint_svd([], 2)
    with pytest.raises(ValueError, match=r"^adapters must be matrices of one shape, got \[\(4, 3\), \(4, 5\)\]"):
        joint_svd([randn(4, 3, seed=1), randn(4, 5, seed=2)], 2)
    with pytest.raises(ValueError, match=r"^adapters must be matrices of one shape, got \[\(4, 3, 1\)\]"):
        joint_svd([randn(4, 3, 1, seed=3)], 2)
    alphas = [randn(6, 4, seed=4 + t) for t in range(3)]
    svd = joint_svd(alphas, 3)
    assert svd.beta.dtype == svd.singular_values.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in svd.gammas)
    reference = torch.linalg.svdvals(torch.cat(alphas, dim=1).double())
    torch.testing.assert_close(svd.singular_values.double(), reference, rtol=1e-5, atol=1e-6)


def test_compressing_a_subset_leaves_the_other_domains_alone_and_freezes_the_basis():
    """compress_jointly(model, domains): only those domains become beta gamma_t; another domain keeps
    its own alpha and its exact function. beta is shared and frozen (sec. 3.4): no gradient reaches it.
    The argument model is untouched (a copy by default)."""
    model = model3(1)
    x = randn(2, 3, 16, 16, seed=10)
    before = {d: model(x, d).clone() for d in ("a", "b", "c")}
    compressed, report = compress_jointly(model, ["a", "b"], rank=1)
    for name, conv in adapted_convs(compressed):
        assert isinstance(conv.adapters["c"], ParallelAdapter), name
        assert isinstance(conv.adapters["a"], LowRankAdapter), name
        assert conv.basis is not None and not conv.basis.requires_grad, name
        assert len(report[name].gammas) == 2 and report[name].beta.shape[1] == 1
    assert torch.equal(compressed(x, "c"), before["c"])
    assert not torch.allclose(compressed(x, "a"), before["a"])
    compressed(x, "a").sum().backward()
    assert all(conv.basis.grad is None for _, conv in adapted_convs(compressed))
    assert all(isinstance(conv.adapters["a"], ParallelAdapter) for _, conv in adapted_convs(model))


def test_compress_each_works_on_a_copy():
    """compress_each returns a compressed copy by default; the argument keeps its full adapters
    and its function."""
    model = model3(2)
    x = randn(2, 3, 16, 16, seed=11)
    before = model(x, "b").clone()
    low = compress_each(model, rank=1)
    assert all(isinstance(conv.adapters["b"], LowRankAdapter) for _, conv in adapted_convs(low))
    assert all(isinstance(conv.adapters["b"], ParallelAdapter) for _, conv in adapted_convs(model))
    assert torch.equal(model(x, "b"), before)


def test_compression_refusals_name_the_layer():
    """No parallel adapter, a grouped convolution or fused adapters: refused in one line, naming
    the layer where there is one."""
    with seeded(3):
        series = ResNet26.build([("a", 3)], width=0.125, adapter="series")
        grouped = nn.Sequential(AdaptedConv(nn.Conv2d(4, 4, 3, padding=1, groups=2), ["a"]))
    with pytest.raises(ValueError, match="^the model has no parallel adapters to compress"):
        compress_jointly(series)
    with pytest.raises(ValueError, match="^0: grouped convolutions are not supported by SVD compression$"):
        compress_jointly(grouped)
    with pytest.raises(ValueError, match=r"^stem\.conv: unfuse the adapters before compressing$"):
        compress_each(fuse_adapters(model3(4), "a"))
