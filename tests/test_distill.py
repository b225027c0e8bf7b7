"""Method parallel_distilled (train.distill): the loss on constructed cases, what its gradient
reaches, a frozen teacher, the spec's checks, and the row end to end with its adapter file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import random_loader  # noqa: E402

from paperlib.model.adapters import set_fused_training  # noqa: E402
from paperlib.model.resnet import ResNet26  # noqa: E402
from paperlib.model.roles import set_trainable  # noqa: E402
from paperlib.model.weights import load_model, save_model  # noqa: E402
from paperlib.series.plans import DISTILL_TEMPERATURE, DISTILL_WEIGHT, DISTILLED_ROW, table1_plan  # noqa: E402
from paperlib.series.study import Study  # noqa: E402
from paperlib.train.distill import distillation_loss, frozen_teacher  # noqa: E402
from paperlib.train.engine import train  # noqa: E402
from paperlib.train.runtime import Runtime  # noqa: E402
from paperlib.train.spec import TrainConfig  # noqa: E402
from paperlib.train.step import train_step  # noqa: E402

CPU = Runtime(device="cpu")


def test_the_loss_is_cross_entropy_at_weight_zero_and_with_a_teacher_that_agrees():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    ce = F.cross_entropy(s, y)
    assert torch.equal(distillation_loss(s, y, t, weight=0.0, temperature=4.0), ce)
    torch.testing.assert_close(distillation_loss(s, y, s.clone(), weight=1.0, temperature=4.0), ce)  # KL = 0
    more = distillation_loss(s, y, t, weight=1.0, temperature=4.0)
    kl = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(t / 4, 1), reduction="batchmean")
    torch.testing.assert_close(more, ce + 16 * kl)  # T^2 x KL(teacher || student)


def _student_and_teacher():
    torch.manual_seed(0)
    domains = [("imagenet12", 4), ("cifar100", 4)]
    student = ResNet26.build(domains, width=0.125, adapter="parallel")
    set_trainable(student, "parallel_distilled", "cifar100")
    set_fused_training(student, True)
    teacher = frozen_teacher(ResNet26.build(domains, width=0.125), "cifar100", torch.device("cpu"), channels_last=False)
    return student, teacher


def test_the_gradient_reaches_only_the_students_trainable_parameters_and_never_the_teacher():
    student, teacher = _student_and_teacher()
    before_s = {k: v.clone() for k, v in student.state_dict().items()}
    before_t = {k: v.clone() for k, v in teacher.state_dict().items()}
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))
    student.train()
    for _ in range(2):
        train_step(student, optimizer, x, y, "cifar100", teacher=teacher, distill=(1.0, 4.0), channels_last=False)
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(v, before_t[k]) for k, v in teacher.state_dict().items())  # BN statistics too
    moved = {k for k, v in student.state_dict().items() if not torch.equal(v, before_s[k])}
    assert {k for k in moved if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))} <= trainable
    assert any(".adapters.cifar100." in k for k in moved) and not any("imagenet12" in k for k in moved)
    assert not any(k.endswith("conv.base.weight") for k in moved)  # the 3x3 filters stay frozen


def test_the_spec_takes_a_source_and_a_teacher():
    source = TrainConfig(method="scratch", domains=("imagenet12",), profile="smoke")
    teacher = TrainConfig(method="finetune", domains=("cifar100",), pretrained=(source,), profile="smoke")
    good = dict(method="parallel_distilled", domains=("cifar100",), profile="smoke", pretrained=(source, teacher),
                distill_weight=1.0, distill_temperature=4.0)
    config = TrainConfig(**good)
    assert config.adapter == "parallel" and config.upstream == (source, teacher)
    with pytest.raises(ValueError, match="only it takes"):
        TrainConfig(**{**good, "distill_weight": None})
    with pytest.raises(ValueError, match="the source network, the domain's teacher"):
        TrainConfig(**{**good, "pretrained": (source,)})
    with pytest.raises(ValueError, match="only it takes"):
        TrainConfig(method="parallel", domains=("cifar100",), distill_weight=1.0, distill_temperature=4.0)
    assert "distill_weight" not in TrainConfig(method="parallel", domains=("cifar100",)).to_json()


def test_the_row_distils_this_replicates_finetuning_run_of_each_domain():
    study = Study(profile="mini", cpu_bf16=False)
    plan = table1_plan(study, [DISTILLED_ROW, "Finetuning"], ["dtd"])
    distilled = {labels["replicate"]: c for labels, c in plan if c.method == "parallel_distilled"}
    finetune = {labels["replicate"]: c for labels, c in plan if c.method == "finetune"}
    assert set(distilled) == set(finetune) == set(range(study.replicate_count))
    for seed, config in distilled.items():
        source, teacher = config.pretrained
        assert teacher == finetune[seed] and source == finetune[seed].pretrained[0]
        assert (config.distill_weight, config.distill_temperature) == (DISTILL_WEIGHT, DISTILL_TEMPERATURE)
        assert (config.epochs, config.placement) == (finetune[seed].epochs, "all")


@pytest.mark.slow
def test_a_distilled_run_trains_end_to_end_and_exports_like_a_parallel_adapter(tmp_path):
    loader = random_loader()
    common = dict(width=0.125, batch_size=16, profile="smoke", train_limit_batches=3, eval_limit_batches=1, epochs=1)
    source = TrainConfig(method="scratch", domains=("imagenet12",), **common)
    pre = train(source, CPU, loader=loader)
    save_model(tmp_path / "source.safetensors", pre.model, source)
    teacher = TrainConfig(method="finetune", domains=("cifar100",), pretrained=(str(tmp_path / "source.safetensors"),),
                          **common)
    taught = train(teacher, CPU, loader=loader)
    save_model(tmp_path / "teacher.safetensors", taught.model, teacher)
    config = TrainConfig(method="parallel_distilled", domains=("cifar100",), distill_weight=1.0, distill_temperature=4.0,
                         pretrained=(str(tmp_path / "source.safetensors"), str(tmp_path / "teacher.safetensors")),
                         **common)
    result = train(config, CPU, loader=loader)
    assert result.metrics["cifar100"]["val"] is not None
    # the shared filters are the source's, not the teacher's (the teacher finetuned them)
    assert torch.equal(result.model.state_dict()["stem.conv.base.weight"], pre.model.state_dict()["stem.conv.weight"])
    save_model(tmp_path / "student.safetensors", result.model, config)
    student = load_model(tmp_path / "student.safetensors").eval()
    student.save_adapter("cifar100", tmp_path / "cifar100.safetensors")
    base = ResNet26.build([("other", 4)], width=0.125, adapter="parallel")  # the same shared filters, no cifar100
    shared = base.state_dict().keys() & student.state_dict().keys()
    base.load_state_dict({k: student.state_dict()[k] for k in shared}, strict=False)
    assert base.load_adapter(tmp_path / "cifar100.safetensors") == "cifar100"
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(base.eval()(x, "cifar100"), student(x, "cifar100"))
