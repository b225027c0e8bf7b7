"""Cross-domain adapter compression (paper sec. 3.4).

For each adapter position, stack the domains' adapters horizontally,
[alpha_1 ... alpha_T] = U Sigma V, keep the top K singular values, and set
beta = U Sigma (shared by all domains, frozen) and gamma_t = V_t (per domain, fine-tuned):
alpha_t ~ beta gamma_t^T (eq. 1). The single-domain variant factorises each alpha alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperlib.model.adapters import AdaptedConv, LowRankAdapter, adapted_convs

Rank = int | float | Callable[[int, int], int] | None


@dataclass(frozen=True)
class JointSVD:
    """beta (C_out x K), gammas [T x (C_in x K)], all singular values, and the kept K."""

    beta: torch.Tensor
    gammas: list[torch.Tensor]
    singular_values: torch.Tensor
    rank: int

    def reconstruct(self, t: int) -> torch.Tensor:
        return self.beta @ self.gammas[t].T  # alpha_t ~ beta gamma_t^T (eq. 1)

    @property
    def residual_norm(self) -> float:
        """Frobenius norm of what the truncation discards: sqrt(sum of dropped sigma^2)."""
        return float(self.singular_values[self.rank:].pow(2).sum().sqrt())


def resolve_rank(rank: Rank, out_channels: int, in_channels: int) -> int:
    """K: None -> C/2 (the paper's choice, C = min(C_out, C_in)); a float -> that fraction of C;
    an int -> itself; a callable -> rank(C_out, C_in). Always at least 1."""
    c = min(out_channels, in_channels)
    if rank is None:
        k = c // 2
    elif callable(rank):
        k = int(rank(out_channels, in_channels))
    elif isinstance(rank, float):
        if not 0 < rank <= 1:
            raise ValueError(f"a fractional rank must be in (0, 1], got {rank}")
        k = int(round(rank * c))
    else:
        k = int(rank)
    if k < 1:
        k = 1
    return k


def joint_svd(alphas: Sequence[torch.Tensor], rank: int) -> JointSVD:
    """Jointly factorise T matrices alpha_t (C_out x C_in) with a shared left basis (sec. 3.4)."""
    if not alphas:
        raise ValueError("joint_svd needs at least one adapter matrix")
    shapes = {tuple(a.shape) for a in alphas}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"adapters must be matrices of one shape, got {sorted(shapes)}")
    c_in = alphas[0].shape[1]
    stacked = torch.cat([a.detach().double() for a in alphas], dim=1)  # C_out x (T C_in)
    u, s, vh = torch.linalg.svd(stacked, full_matrices=False)
    k = min(rank, s.numel())
    beta = (u[:, :k] * s[:k]).to(alphas[0].dtype)  # U Sigma
    gammas = [vh[:k, t * c_in:(t + 1) * c_in].T.contiguous().to(alphas[0].dtype) for t in range(len(alphas))]
    return JointSVD(beta=beta, gammas=gammas, singular_values=s.to(alphas[0].dtype), rank=k)


def _parallel_convs(model: nn.Module) -> list[tuple[str, AdaptedConv]]:
    convs = [(n, c) for n, c in adapted_convs(model) if c.mode == "parallel"]
    if not convs:
        raise ValueError("the model has no parallel adapters to compress (sec. 3.4 applies to parallel ones)")
    for name, conv in convs:
        if conv.base.groups != 1:
            raise ValueError(f"{name}: grouped convolutions are not supported by SVD compression")
        if conv.fused_domain is not None:
            raise ValueError(f"{name}: unfuse the adapters before compressing")
    return convs


def compress_jointly(model: nn.Module, domains: Sequence[str] | None = None, *, rank: Rank = None,
                     inplace: bool = False) -> tuple[nn.Module, dict[str, JointSVD]]:
    """Replace the parallel adapters of `domains` (default: all) by beta (shared) and gamma_t.

    Returns the compressed model and, per layer, its `JointSVD` (for inspecting the energy kept).
    Train it with method "svd": gamma_t, BNs and heads only.
    """
    if not inplace:
        model = copy.deepcopy(model)
    report: dict[str, JointSVD] = {}
    for name, conv in _parallel_convs(model):
        names = list(domains) if domains is not None else conv.domain_names()
        alphas = [conv.alpha(d)[:, :, 0, 0] for d in names]
        k = resolve_rank(rank, conv.base.out_channels, conv.base.in_channels)
        svd = joint_svd(alphas, k)
        conv.basis = nn.Parameter(svd.beta.clone(), requires_grad=False)
        for d, gamma in zip(names, svd.gammas):
            conv.adapters[d] = LowRankAdapter(gamma)
        report[name] = svd
    return model, report


def compress_each(model: nn.Module, *, rank: Rank = None, inplace: bool = False) -> nn.Module:
    """Single-domain low-rank variant (sec. 3.4, first paragraph): alpha = beta gamma^T per
    domain from its own truncated SVD; both factors are then fine-tuned, 2K/C of the size."""
    if not inplace:
        model = copy.deepcopy(model)
    for _, conv in _parallel_convs(model):
        k = resolve_rank(rank, conv.base.out_channels, conv.base.in_channels)
        for d in conv.domain_names():
            svd = joint_svd([conv.alpha(d)[:, :, 0, 0]], k)
            conv.adapters[d] = LowRankAdapter(svd.gammas[0], beta=svd.beta)
    return model


__all__ = ["JointSVD", "joint_svd", "resolve_rank", "compress_jointly", "compress_each"]
