"""One training step (train.step) and the distillation loss (train.distill) against hand-written
references: an SGD step written out, the Hinton et al. loss written out, augmentation that is
random but reproducible from its own generator, batches on the requested device."""

from __future__ import annotations

import copy
import dataclasses
import warnings

import torch
import torch.nn.functional as F

from paperlib.model.resnet import ResNet26
from paperlib.train.distill import distillation_loss, frozen_teacher
from paperlib.train.run_data import input_spec
from paperlib.train.step import make_batch, train_step


def _model(domains=(("cifar100", 4),), adapter="parallel", seed=0):
    torch.manual_seed(seed)
    return ResNet26.build(list(domains), width=0.125, adapter=adapter)


def _hand_loss(s: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, w: float, T: float) -> torch.Tensor:
    """CE(s, y) + w T^2 KL(softmax(t/T) || softmax(s/T)), the KL summed over classes and averaged
    over the batch (train.distill's docstring; Hinton, Vinyals and Dean 2015), written out."""
    log_p = s - s.logsumexp(1, keepdim=True)
    ce = -log_p[torch.arange(len(y)), y].mean()
    if t is None:
        return ce
    log_ps, log_pt = s / T - (s / T).logsumexp(1, keepdim=True), t / T - (t / T).logsumexp(1, keepdim=True)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean()
    return ce + w * T * T * kl


def test_distillation_loss_is_the_written_out_formula_without_warnings():
    """The loss equals the formula on small tensors, for several weights and temperatures, and
    computes without torch's warnings (an implicit softmax dimension is deprecated: a dimension
    left to torch's guess would break on the day it is removed)."""
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (6,), generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for w, T in ((1.0, 4.0), (0.3, 1.0), (2.5, 0.5)):
            got = distillation_loss(s, y, t, weight=w, temperature=T)
            torch.testing.assert_close(got.double(), _hand_loss(s.float().double(), y, t.float().double(), w, T),
                                       rtol=1e-5, atol=1e-6)


def test_train_step_is_a_hand_written_sgd_step():
    """Loss = cross-entropy of the float logits; the parameters move by -lr (grad + wd p) (the
    first SGD step, whose momentum buffer is the gradient), in float32: no autocast unless asked."""
    model = _model()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 4, (4,), generator=g)
    reference = copy.deepcopy(model)
    reference.set_domain("cifar100")
    params = [p for p in reference.parameters() if p.requires_grad]
    expected_loss = _hand_loss(reference(x), y, None, 0.0, 1.0)
    grads = torch.autograd.grad(expected_loss, params)
    lr, wd = 0.05, 0.01
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9,
                                weight_decay=wd)
    loss, logits = train_step(model, optimizer, x, y, "cifar100")
    torch.testing.assert_close(loss, expected_loss.detach())
    assert logits.dtype == torch.float32 and logits.shape == (4, 4) and not logits.requires_grad
    for p, q, gr in zip((p for p in model.parameters() if p.requires_grad), params, grads):
        torch.testing.assert_close(p.detach(), q.detach() - lr * (gr + wd * q.detach()), rtol=1e-5, atol=1e-6)


def test_the_step_s_autocast_is_bf16_whatever_the_process_s_default():
    """autocast=True means bf16 (the docstring; the spec's amp and cpu_bf16 are bf16 switches), not
    the dtype torch's autocast defaults to on the device, which a process may set (float16 here):
    the logits come out bf16, the loss and the weights stay float32."""
    model = _model()
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 4, (4,), generator=g)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    kept = torch.get_autocast_dtype("cpu")
    torch.set_autocast_dtype("cpu", torch.float16)
    try:
        loss, logits = train_step(model, optimizer, x, y, "cifar100", autocast=True, channels_last=False)
    finally:
        torch.set_autocast_dtype("cpu", kept)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_step_on_one_domain_leaves_the_other_domains_parameters_alone():
    """Domains alternate in one optimizer (several domains per run): a step on dtd must not move
    cifar100's head, BNs or adapters, not even through momentum or weight decay (their gradients
    are cleared to None, which SGD skips, not to zeros, which it would decay)."""
    model = _model(domains=(("cifar100", 4), ("dtd", 3)))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9,
                                weight_decay=0.01)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 16, 16, generator=g)
    train_step(model, optimizer, x, torch.randint(0, 4, (4,), generator=g), "cifar100")
    own = {n: p.detach().clone() for n, p in model.named_parameters() if ".cifar100." in n}
    assert own and any(".heads.cifar100." in n for n in own)
    for _ in range(2):
        train_step(model, optimizer, x, torch.randint(0, 3, (4,), generator=g), "dtd")
    for n, p in model.named_parameters():
        if n in own:
            assert torch.equal(p.detach(), own[n]), f"{n} moved during dtd's steps"


def test_train_step_with_a_teacher_uses_the_distillation_weight_and_temperature():
    """With a teacher the step's loss is CE + w T^2 KL at the given (w, T), not with w and T swapped."""
    student = _model()
    teacher = frozen_teacher(_model(seed=5), "cifar100", torch.device("cpu"), channels_last=False)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 4, (4,), generator=g)
    reference = copy.deepcopy(student)
    reference.set_domain("cifar100")
    with torch.no_grad():
        expected = _hand_loss(reference(x).double(), y, teacher(x).double(), 0.5, 3.0)
    optimizer = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.01)
    loss, _ = train_step(student, optimizer, x, y, "cifar100", teacher=teacher, distill=(0.5, 3.0))
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)


def test_frozen_teacher_is_on_the_device_in_eval_mode_and_in_the_layout_asked():
    teacher = frozen_teacher(_model(), "cifar100", torch.device("cpu"), channels_last=True)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    kernels = [p for p in teacher.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    moved = frozen_teacher(_model(), "cifar100", torch.device("meta"), channels_last=False)
    assert all(p.device.type == "meta" for p in moved.parameters())


def _uint8_set(n=12, size=18, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8),
            torch.randint(0, 4, (n,), generator=g))


def test_make_batch_augments_from_its_own_generator_only():
    """The crop and flip are random (two seeds give two batches) and drawn from the generator
    given (the same seed gives the same batch whatever torch's global RNG, which dropout uses)."""
    images, labels = _uint8_set()
    idx = torch.tensor([3, 0, 7, 7, 11, 5])

    def batch(seed, global_seed):
        torch.manual_seed(global_seed)
        return make_batch(images, labels, idx, "cifar100", crop=16, device=torch.device("cpu"),
                          generator=torch.Generator().manual_seed(seed))

    (x1, y1), (x2, _), (x3, _) = batch(0, 0), batch(0, 123), batch(1, 0)
    assert x1.shape == (6, 3, 16, 16) and x1.dtype == torch.float32
    assert torch.equal(y1, labels[idx])
    assert torch.equal(x1, x2)
    assert not torch.equal(x1, x3)


def test_make_batch_normalises_by_the_spec_given_else_the_domains():
    """x = (pixel / 255 - mean) / std with the spec's statistics: two specs differ exactly by
    that affine map; no spec means `input_spec(domain)`."""
    images, labels = _uint8_set(seed=1)
    idx = torch.arange(8)
    own = dataclasses.replace(input_spec("cifar100"), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))

    def batch(spec):
        return make_batch(images, labels, idx, "cifar100", crop=16, device=torch.device("cpu"),
                          generator=torch.Generator().manual_seed(7), spec=spec)[0]

    default, given, explicit = batch(None), batch(own), batch(input_spec("cifar100"))
    assert torch.equal(default, explicit)
    ref = input_spec("cifar100")

    def pixels(x, spec):
        return x * torch.tensor(spec.std)[:, None, None] + torch.tensor(spec.mean)[:, None, None]

    torch.testing.assert_close(pixels(given, own), pixels(default, ref), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(given, default)


def test_make_batch_puts_images_and_labels_on_the_device_asked():
    images, labels = _uint8_set(seed=2)
    x, y = make_batch(images, labels, torch.tensor([1, 2, 3]), "dtd", crop=16, device=torch.device("meta"),
                      generator=torch.Generator().manual_seed(0))
    assert x.device.type == "meta" and y.device.type == "meta" and x.shape == (3, 3, 16, 16) and y.shape == (3,)
