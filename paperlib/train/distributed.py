"""The multi-process parts of the engine: devices, the torchrun process group, and batch norms
whose statistics cover the global batch.

Launched with `torchrun`, the engine reads WORLD_SIZE / RANK / LOCAL_RANK, joins the process
group (nccl on CUDA, gloo on CPU) and wraps the model in DistributedDataParallel. Every process
draws the same global batch and keeps its own slice of it; BNs are synchronised over the global
batch (`sync_bn`: nn.SyncBatchNorm on CUDA; on CPU, where PyTorch has none,
`AllReduceBatchNorm2d`, whose statistics go through a differentiable all_reduce), so N processes
compute what one process computes with the same global batch. Rank 0 writes checkpoints and records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns: bool = False  # this call created the process group (and destroys it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available")
    return torch.device(name)


def init_distributed(device: torch.device) -> Group:
    """torchrun sets WORLD_SIZE, RANK, LOCAL_RANK (and MASTER_ADDR / MASTER_PORT)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Group(rank=rank, world=world, local_rank=local, owns=owns)


def describe_device(device: torch.device, world: int) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return f"{name} x{world}" if world > 1 else name


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum is the sum of the gradients (all_reduce again)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with statistics over the global batch of all processes, for CPU (gloo) runs
    where nn.SyncBatchNorm does not work. The sums go through a differentiable all_reduce, so
    gradients flow through the global statistics as well."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c, xf = x.shape[1], x.float()
        count = torch.tensor([x.numel() / c], dtype=torch.float32, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)), count]))  # 2C+1
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)  # biased, as in the forward of BN
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as BN
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def swap_batchnorm(module: nn.Module, cls: type[nn.Module]) -> None:
    """Replace every BatchNorm2d-like child by `cls`, sharing its parameters and buffers."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and type(child) is not cls:
            new = cls(child.num_features, eps=child.eps, momentum=child.momentum, affine=child.affine,
                      track_running_stats=child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            swap_batchnorm(child, cls)


__all__ = ["Group", "init_distributed", "resolve_device", "describe_device", "AllReduceBatchNorm2d", "swap_batchnorm"]
