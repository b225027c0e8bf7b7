"""Distillation from a frozen teacher into the network being trained: the loss of method
parallel_distilled (beyond the paper).

    L = CE(s, y) + w * T^2 * KL( softmax(t / T) || softmax(s / T) ),

s the student's logits, t the teacher's, y the labels (Hinton, Vinyals and Dean 2015): the T^2 keeps
the soft term's gradients on the scale of the hard one's whatever T. Li, Liu and Bilen ("Universal
representation learning from multiple domains", ICCV 2021) distil each domain's finetuned network
into one shared network this way, with T = 4 and a weight of 1 on every domain but ImageNet (their
code's DistillKL(T=4) and KDPLOSSWEIGHTS); `series.plans` takes those values. Their second term
(CKA on the last features, through a learned linear map) and the annealing of both weights to
zero are left out: a student here has one teacher and trains its domain alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor, *,
                      weight: float, temperature: float) -> torch.Tensor:
    """CE(logits, targets) + weight * T^2 * KL(teacher || student) at temperature T (module
    docstring), on float32 logits, the KL averaged over the batch."""
    logits, teacher_logits = logits.float(), teacher_logits.float()
    loss = F.cross_entropy(logits, targets)
    if weight == 0:
        return loss
    soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return loss + weight * temperature ** 2 * soft


def frozen_teacher(teacher: nn.Module, domain: str, device: torch.device, *, channels_last: bool) -> nn.Module:
    """The teacher in eval mode (its BN statistics fixed), without gradients, on `device`."""
    teacher.set_domain(domain)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.to(device)
    if channels_last:
        teacher.to(memory_format=torch.channels_last)
    return teacher


__all__ = ["distillation_loss", "frozen_teacher"]
