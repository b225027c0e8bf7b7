"""Parallel adapters trained as one convolution (paper sec. 3.1.2).

The parallel adapter is additive: f * x + diag_1(alpha) * x = (f + diag_L(alpha)) * x, where
diag_L(alpha) is alpha embedded at the centre tap of an L x L kernel. `FusedParallelConv` uses
this identity in training, not only after it:

- forward: ONE convolution with the fused kernel g = f + diag_L(alpha);
- backward, input gradient: one transposed convolution through g (instead of one through f and
  one through alpha);
- backward, alpha's gradient: the 1x1 weight gradient of (x, grad_output) at the convolution's
  stride, reading x at the kernel centre. That is exactly the centre tap of the L x L weight
  gradient, at 1/L^2 of its cost, so it is the cheapest exact form;
- no L x L weight gradient when f is frozen; when f does require a gradient, the L x L weight
  gradient is computed and alpha's gradient is its centre tap (free).

A training step with frozen f then costs (1 + 1 + 1/9) / 3 = 0.70 of a finetuning step's
convolutions for 3x3 kernels, against (1 + 1/9) x 2 / 3 = 0.74 unfused.

Not for a parallel adapter with dropout on its input (sec. 3.3): dropout2d(x) feeds the adapter
branch only, so the branches read different inputs and the identity does not hold.
`AdaptedConv` falls back to its two-branch forward in training then.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def numeric_padding(conv: nn.Conv2d) -> tuple[int, int]:
    """conv.padding as integers ('valid' and 'same' resolved for odd kernels, as nn.Conv2d does)."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0)
        return tuple(d * (k // 2) for d, k in zip(conv.dilation, conv.kernel_size))  # "same", odd kernel
    return tuple(conv.padding)


def centre_input(x: torch.Tensor, offset: tuple[int, int], stride: tuple[int, int],
                 out_hw: tuple[int, int]) -> torch.Tensor:
    """x shifted so that a 1x1 convolution at `stride` reads, for output pixel i, the input pixel
    under the kernel centre, stride * i + offset (zero outside x), and yields exactly out_hw."""
    top, left = offset
    if not (top or left) and stride == (1, 1) and tuple(x.shape[-2:]) == tuple(out_hw):
        return x  # 'same' padding at stride 1 (most of ResNet-26): x itself
    if top or left:
        pt, pl = max(-top, 0), max(-left, 0)
        x = F.pad(x, (pl, pl, pt, pt))[..., top + pt:, left + pl:]
    rows, cols = (s * (n - 1) + 1 for s, n in zip(stride, out_hw))  # input extent the 1x1 conv needs
    if x.shape[-2] < rows or x.shape[-1] < cols:  # only with padding beyond 'same' on the far side
        x = F.pad(x, (0, max(cols - x.shape[-1], 0), 0, max(rows - x.shape[-2], 0)))
    if (x.shape[-2] - 1) // stride[0] + 1 != out_hw[0] or (x.shape[-1] - 1) // stride[1] + 1 != out_hw[1]:
        x = x[..., :rows, :cols]  # trailing rows that the 3x3 conv's output does not reach
    return x


def alpha_grad(x: torch.Tensor, grad_y: torch.Tensor, alpha: torch.Tensor, offset: tuple[int, int],
               stride: tuple[int, int], groups: int) -> torch.Tensor:
    """d loss / d alpha: sum over images and output pixels of grad_y x (x under the kernel centre).

    On the CPU as a batched matrix product per image and group, summed over images: at ResNet-26
    shapes, one thread, up to 5x faster than oneDNN's 1x1 weight gradient (0.9x at 256 channels on
    8 x 8 pixels); channels-last without groups, as one matrix product of the (N H W) x C views;
    grad_y channels-last but x plain (the first convolution, which reads the images), per image
    again, which reads both without a copy; elsewhere as the 1x1 convolution's weight gradient (cuDNN).
    """
    xc = centre_input(x, offset, stride, grad_y.shape[-2:])
    if x.device.type != "cpu":
        return torch.ops.aten.convolution_backward(
            grad_y, xc, alpha, None, list(stride), [0, 0], [1, 1], False, [0, 0], groups, [False, True, False])[1]
    xc = xc[..., ::stride[0], ::stride[1]]  # N x C_in x H_out x W_out
    n, c_out, c_in = grad_y.shape[0], grad_y.shape[1], xc.shape[1]
    if groups == 1 and grad_y.is_contiguous(memory_format=torch.channels_last):
        if xc.is_contiguous():  # x in NCHW (the images the first conv reads): C_in x P @ P x C_out per image
            per_image = torch.bmm(xc.reshape(n, c_in, -1), grad_y.permute(0, 2, 3, 1).reshape(n, -1, c_out))
            return per_image.sum(0).t()[..., None, None]  # no copy: 2.5x (mini) to 10x (full) the matrix product's speed
        # channels-last: (N H W) x C views of grad_y (and of x at stride 1), so ONE matrix product
        g2 = grad_y.permute(0, 2, 3, 1).reshape(-1, c_out)
        x2 = xc.permute(0, 2, 3, 1).reshape(-1, c_in)
        return (g2.t() @ x2)[..., None, None]
    g3 = grad_y.reshape(n * groups, c_out // groups, -1)  # (N G) x C_out/G x P
    x3 = xc.reshape(n * groups, c_in // groups, -1)  # (N G) x C_in/G x P
    per_image = torch.bmm(g3, x3.transpose(1, 2))  # (N G) x C_out/G x C_in/G
    return per_image.view(n, c_out, c_in // groups).sum(0)[..., None, None]


def _strided_on_cpu(x: torch.Tensor, stride: tuple[int, int]) -> bool:
    """A strided convolution of a contiguous (NCHW) CPU tensor."""
    return x.device.type == "cpu" and tuple(stride) != (1, 1) and x.dim() == 4 and x.is_contiguous()


def _amp_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The autocast dtype the convolution would run in, or None outside autocast."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None


class FusedParallelConv(torch.autograd.Function):
    """y = conv(x, f + diag_L(alpha)) with the gradients described in the module docstring.

    Shapes: x N x C_in x H x W; weight (f) C_out x C_in/groups x L x L; alpha C_out x C_in/groups
    x 1 x 1; bias C_out or None. padding: integers; offset: where the 1x1 branch reads relative
    to stride * i (`adapters._adapter_geometry`).
    """

    @staticmethod
    def forward(ctx, x, weight, alpha, bias, stride, padding, dilation, groups, offset):  # type: ignore[override]
        kh, kw = weight.shape[-2:]  # g = f + diag_L(alpha), diag_L as adapters.diag_embed
        fused = weight + F.pad(alpha, (kw // 2, kw // 2, kh // 2, kh // 2))  # C_out x C_in/groups x L x L
        ctx.param_dtypes = (weight.dtype, alpha.dtype, None if bias is None else bias.dtype)
        dtype = _amp_dtype(x)
        if dtype is None:  # the common case on the CPU: no autocast context to enter (its cost shows at mini)
            y = F.conv2d(x, fused, bias, stride, padding, dilation, groups)
        else:  # autocast would cast inside F.conv2d; do it here so backward sees the same
            x, fused, alpha = x.to(dtype), fused.to(dtype), alpha.to(dtype)
            bias = None if bias is None else bias.to(dtype)
            with torch.autocast(x.device.type, enabled=False):
                y = F.conv2d(x, fused, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(x, fused, alpha)
        ctx.geometry = (stride, padding, dilation, groups, offset)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        x, fused, alpha = ctx.saved_tensors
        stride, padding, dilation, groups, offset = ctx.geometry
        need_x, need_w, need_a, need_b = ctx.needs_input_grad[:4]
        grad_y = grad_y.to(fused.dtype)
        kh, kw = fused.shape[-2:]
        # input gradient through g, f's L x L weight gradient only if f trains, bias: one call
        gy, xx, ww = grad_y, x, fused
        if _strided_on_cpu(x, stride) and need_x and not need_w:
            # oneDNN's strided input gradient is up to 2x faster channels-last at the mini widths
            # (8 to 64 channels), the same at width 1; the copies are small next to it
            gy, xx, ww = (t.contiguous(memory_format=torch.channels_last) for t in (grad_y, x, fused))
        gx, gw, gb = torch.ops.aten.convolution_backward(
            gy, xx, ww, [fused.shape[0]] if need_b else None, list(stride), list(padding), list(dilation),
            False, [0, 0], groups, [need_x, need_w, need_b])
        if gx is not None and gy is not grad_y:
            gx = gx.contiguous()  # back to x's layout
        ga = None
        if need_a and gw is not None:  # the centre tap of the L x L gradient is alpha's gradient
            ga = gw[..., kh // 2: kh // 2 + 1, kw // 2: kw // 2 + 1]
        elif need_a:  # the 1x1 weight gradient at the conv's stride, x read at the kernel centre
            ga = alpha_grad(x, grad_y, alpha, offset, stride, groups)
        w_dtype, a_dtype, b_dtype = ctx.param_dtypes
        if any(dt not in (None, fused.dtype) for dt in ctx.param_dtypes):  # e.g. autocast's bf16
            gw, ga, gb = (None if t is None else t.to(dt) for t, dt in ((gw, w_dtype), (ga, a_dtype), (gb, b_dtype)))
        return gx, gw, ga, gb, None, None, None, None, None


def fused_parallel_conv(x: torch.Tensor, conv: nn.Conv2d, alpha: torch.Tensor,
                        offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """conv(x) + the parallel adapter alpha's branch, as one convolution (sec. 3.1.2)."""
    return FusedParallelConv.apply(x, conv.weight, alpha, conv.bias, tuple(conv.stride), numeric_padding(conv),
                                   tuple(conv.dilation), conv.groups, tuple(offset))
