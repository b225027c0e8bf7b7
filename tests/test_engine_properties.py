"""The training engine (train.engine) on tiny networks: the learning-rate schedule and the epoch
record, the loss log's sums and its non-finite check, the best-on-validation epoch, what the final
evaluation reuses, the progress bar, the wrappers (DDP, torch.compile) and each process's share of
a global batch."""

from __future__ import annotations

import copy
import inspect
import re
import time

import pytest
import torch
import torch.distributed as dist
from conftest import random_loader, random_split

from paperlib.model.weights import save_model
from paperlib.train import engine, evaluation, step
from paperlib.train.checkpoint import load_checkpoint
from paperlib.train.distributed import AllReduceBatchNorm2d, Group
from paperlib.train.run_data import input_spec, load_run_data
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig

CPU = Runtime(device="cpu")
TINY = dict(width=0.125, epochs=2, batch_size=16, lr=0.05, profile="smoke", train_limit_batches=None,
            eval_limit_batches=None)


def tiny(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


@pytest.fixture(scope="module")
def loader():
    return random_loader()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, loader) -> str:
    config = tiny(method="scratch", domains=("imagenet12",), epochs=1, eval_splits=())
    path = tmp_path_factory.mktemp("pre") / "imagenet12.safetensors"
    save_model(path, engine.train(config, CPU, loader=loader).model, config)
    return str(path)


# ---------------------------------------------------------------- schedule and the epoch record

@pytest.mark.parametrize("epochs,lr,decay,milestones", [(12, 0.1, 0.1, (80 / 120, 100 / 120)),
                                                        (5, 0.2, 0.5, (0.4, 0.4, 0.8))])
def test_lr_schedule_steps_and_the_epoch_record(tmp_path, loader, monkeypatch, epochs, lr, decay, milestones):
    """The authors' schedule (lr 0.1, x0.1 at 80/120 and 100/120 of the epochs; a milestone given
    twice decays twice), stepped once per epoch; every epoch's record names it (1-based), its lr,
    its steps (domains alternate until the smallest runs out) and its seconds; the checkpoint
    counts epochs and steps; the wall time covers the epochs and no more than the call took."""
    config = tiny(method="bn", domains=("cifar100", "dtd"), epochs=epochs, lr=lr, lr_decay=decay,
                  milestones=milestones, batch_size=64, eval_splits=(), adapter=None)
    at = [round(m * epochs) for m in milestones]
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored afterwards, whatever happens
    t0 = time.perf_counter()
    result = engine.train(config, CPU, loader=loader, checkpoint=tmp_path / "run.ckpt")
    took = time.perf_counter() - t0
    assert [h["epoch"] for h in result.history] == list(range(1, epochs + 1))
    for h in result.history:
        assert h["lr"] == pytest.approx(lr * decay ** sum(e < h["epoch"] for e in at), rel=1e-9)
        assert h["steps"] == 2 * (64 // 64)
        assert isinstance(h["seconds"], float) and h["seconds"] == round(h["seconds"], 3)
    seconds = sum(h["seconds"] for h in result.history)
    assert seconds <= result.wall_time_s + 0.0005 * epochs <= took + 0.0005 * epochs
    state = load_checkpoint(tmp_path / "run.ckpt")
    assert state["epoch"] == epochs and state["step"] == epochs * 2
    assert seconds - 0.0005 * epochs <= state["elapsed"] <= result.wall_time_s
    assert result.config == config and result.world_size == 1 and result.rank == 0 and result.device == "cpu"
    assert torch.backends.cudnn.benchmark is False  # a CPU run leaves the CUDA flag alone


def test_a_domain_smaller_than_the_batch_trains_one_short_batch_in_one_process(loader):
    """One process has nothing to divide: a domain of fewer images than the batch gives one short
    batch per epoch (only a multi-process run needs whole batches)."""
    seen = []
    small = random_split("dtd", "train", n=8, size=18, seed=3)
    load = lambda d, s: small if (d, s) == ("dtd", "train") else loader(d, s)  # noqa: E731
    original = engine.train_step

    def spy(model, optimizer, x, y, domain, **kw):
        seen.append(len(y))
        return original(model, optimizer, x, y, domain, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "train_step", spy)
        result = engine.train(tiny(method="bn", domains=("dtd",), epochs=1, eval_splits=()), CPU, loader=load)
    assert seen == [8] and result.history[0]["steps"] == 1


# ---------------------------------------------------------------- the loss log

def test_loss_log_sums_means_and_accuracies():
    """summary(): per domain the mean of its step losses and 100 x correct / seen, over every
    check; a domain without steps reports 0."""
    log = engine._LossLog(["a", "b", "c"], 1)
    rows = [(1.0, 3, 4, "a"), (2.0, 1, 1, "b"), (4.0, 0, 4, "a"), (0.5, 2, 4, "a")]
    for i, (loss, correct, count, d) in enumerate(rows[:2]):
        log.add(torch.tensor(loss), torch.tensor(correct), count, i, 0, d, 0.1)
    log.check(None, epochs_done=0)
    for i, (loss, correct, count, d) in enumerate(rows[2:]):
        log.add(torch.tensor(loss), torch.tensor(correct), count, i + 2, 0, d, 0.1)
    log.check(None, epochs_done=0)
    assert log.last == 0.5
    summary = log.summary()
    assert summary["loss"] == {"a": pytest.approx(5.5 / 3), "b": 2.0, "c": 0.0}
    assert summary["train_acc"] == {"a": pytest.approx(100 * 5 / 12), "b": 100.0, "c": 0.0}


def test_loss_log_averages_the_loss_and_sums_the_counts_over_processes(monkeypatch):
    """Two processes: the logged loss is their mean, correct and seen images their sums (the
    all_reduce here adds the other process's values)."""
    other = torch.tensor([[3.0, 1.0], [5.0, 0.0]])

    def all_reduce(t):
        t += other

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    log = engine._LossLog(["a"], 2)
    log.add(torch.tensor(1.0), torch.tensor(2), 4, 0, 0, "a", 0.1)
    log.add(torch.tensor(2.0), torch.tensor(4), 4, 1, 0, "a", 0.1)
    log.check(None, epochs_done=0)
    summary = log.summary()
    assert summary["loss"]["a"] == pytest.approx(((1 + 3) / 2 + (2 + 5) / 2) / 2)
    assert summary["train_acc"]["a"] == pytest.approx(100 * 7 / 16)


def test_non_finite_loss_message_names_step_epoch_domain_lr_and_the_checkpoint():
    def message(checkpoint, epochs_done):
        log = engine._LossLog(["a", "dtd"], 1)
        log.add(torch.tensor(1.0), torch.tensor(1), 4, 40, 2, "a", 0.1)
        log.add(torch.tensor(float("inf")), torch.tensor(1), 4, 41, 2, "dtd", 0.025)
        with pytest.raises(engine.NonFiniteLossError) as err:
            log.check(checkpoint, epochs_done=epochs_done)
        return str(err.value)

    text = message("runs/x.ckpt", 2)
    assert "step 41" in text and "epoch 3" in text and "'dtd'" in text and "learning rate 0.025" in text
    assert "runs/x.ckpt after epoch 2" in text and "no checkpoint" not in text
    for checkpoint, done in ((None, 0), (None, 2), ("runs/x.ckpt", 0)):
        assert message(checkpoint, done).endswith("; no checkpoint had been written yet")
    assert "after epoch 1" in message("runs/x.ckpt", 1)


def test_a_nan_is_read_every_loss_sync_steps_not_every_step(loader, monkeypatch):
    """The losses stay on the device and are read every LOSS_SYNC_EVERY steps (and at the end of
    an epoch): a NaN at the first step stops the run at the first read, step 25 of 32."""
    calls = {"n": 0}
    original = engine.train_step

    def poisoned(*args, **kw):
        calls["n"] += 1
        loss, logits = original(*args, **kw)
        return (loss * float("nan") if calls["n"] == 1 else loss), logits

    monkeypatch.setattr(engine, "train_step", poisoned)
    config = tiny(method="bn", domains=("cifar100",), batch_size=2, epochs=1, eval_splits=())
    with pytest.raises(engine.NonFiniteLossError, match="at step 0 "):
        engine.train(config, CPU, loader=loader)
    assert calls["n"] == engine.LOSS_SYNC_EVERY == 25


# ---------------------------------------------------------------- loss and accuracy in the record

def test_the_record_holds_the_mean_step_loss_and_the_training_accuracy(loader, monkeypatch):
    losses, hits, seen = {}, {}, {}
    original = engine.train_step

    def spy(model, optimizer, x, y, domain, **kw):
        loss, logits = original(model, optimizer, x, y, domain, **kw)
        losses.setdefault(domain, []).append(float(loss))
        hits[domain] = hits.get(domain, 0) + int((logits.argmax(1) == y).sum())
        seen[domain] = seen.get(domain, 0) + len(y)
        return loss, logits

    monkeypatch.setattr(engine, "train_step", spy)
    result = engine.train(tiny(method="bn", domains=("cifar100", "svhn"), epochs=1, eval_splits=()), CPU,
                          loader=loader)
    entry = result.history[0]
    for d in ("cifar100", "svhn"):
        assert entry["loss"][d] == pytest.approx(sum(losses[d]) / len(losses[d]), rel=1e-6)
        assert entry["train_acc"][d] == pytest.approx(100 * hits[d] / seen[d])


# ---------------------------------------------------------------- best epoch and evaluation

def _rig_validation(monkeypatch, scores):
    """Validation reports scores[epoch - 1] for every domain (the network's own val accuracy is
    still computed), so the best epoch is known whatever the network learns."""
    validate = engine._Loop.validate

    def rigged(self, *, final=False):
        out = validate(self, final=final)
        return {d: scores[self.scheduler.last_epoch - 1] for d in out}

    monkeypatch.setattr(engine._Loop, "validate", rigged)


def _spy_evaluate(monkeypatch):
    """Every evaluate call, by who made it: "validate" (the engine) or "final" (evaluation.py)."""
    calls = []
    for module, who in ((engine, "validate"), (evaluation, "final")):
        original = module.evaluate

        def spy(model, split, *args, _original=original, _who=who, **kw):
            bound = inspect.signature(_original).bind(model, split, *args, **kw)
            bound.apply_defaults()
            calls.append((_who, split.domain, split.split, {k: v for k, v in bound.arguments.items()
                                                            if k not in ("model", "split")}))
            return _original(model, split, *args, **kw)

        monkeypatch.setattr(module, "evaluate", spy)
    return calls


def _own_loader(loader):
    """cifar100 and a domain of the user's own, "mine" (any name works with the loader)."""
    cache = {}

    def load(domain, split):
        if domain != "mine":
            return loader(domain, split)
        if split not in cache:
            cache[split] = random_split("mine", split, n=64 if split == "train" else 32, size=18,
                                        seed=11 + len(split))
        return cache[split]

    return load


def test_the_best_epoch_on_validation_is_kept_and_validated_like_the_final_evaluation(tmp_path, loader,
                                                                                      monkeypatch):
    """The authors keep the epoch best on validation: the mean val score picks it (ties keep the
    earlier one), its score is that mean, and metrics_best are its weights' accuracies. Every
    validation evaluates a val split exactly as the final evaluation does (crop, batches, limit,
    autocast, layout, normalisation: a domain of one's own is normalised as the source's images)
    and every domain's val split is validated whatever the order of eval_splits."""
    _rig_validation(monkeypatch, [40.0, 70.0, 70.0, 55.0])
    calls = _spy_evaluate(monkeypatch)
    config = tiny(method="scratch", domains=("mine", "cifar100"), epochs=4, source_domain="gtsrb",
                  adapter_weight_decay=(("mine", 0.001),), eval_splits=("test", "val"), eval_batch_size=8,
                  eval_limit_batches=2, channels_last=False, cpu_bf16=True, batch_size=32)
    trained = []
    make, step_ = engine.make_batch, engine.train_step
    monkeypatch.setattr(engine, "make_batch", lambda *a, **kw: trained.append((a[3], kw["spec"])) or make(*a, **kw))
    monkeypatch.setattr(engine, "train_step", lambda *a, **kw: trained.append(("autocast", kw["autocast"]))
                        or step_(*a, **kw))
    result = engine.train(config, CPU, loader=_own_loader(loader), checkpoint=tmp_path / "run.ckpt")
    # training batches: normalised as validation's, under the run's autocast (cpu_bf16)
    assert trained and all(v == (input_spec(d, "gtsrb") if d != "autocast" else True) for d, v in trained)
    assert {d for d, _ in trained} == {"mine", "cifar100", "autocast"}
    assert [h["val_acc"] for h in result.history] == [{"mine": s, "cifar100": s} for s in (40.0, 70.0, 70.0, 55.0)]
    assert result.best_epoch == 2
    best = load_checkpoint(tmp_path / "run.ckpt")["best"]
    assert best["epoch"] == 2 and best["score"] == pytest.approx(70.0)
    # metrics_best: the saved weights of epoch 2, evaluated independently
    model = copy.deepcopy(result.model)
    model.load_state_dict(best["model"])
    data = load_run_data(config, _own_loader(loader), torch.device("cpu"))
    expected, _ = evaluation.evaluate_all(config, model, data)
    assert result.metrics_best == expected and result.metrics_best is not result.metrics
    # validation evaluates as the final evaluation does, own domain with the source's statistics
    finals = {(d, s): kw for who, d, s, kw in calls if who == "final"}
    validations = [(d, s, kw) for who, d, s, kw in calls if who == "validate"]
    assert len(validations) == 2 * 4 and {(d, s) for d, s, _ in validations} == {("mine", "val"), ("cifar100", "val")}
    for d, s, kw in validations:
        assert kw == finals[d, s], (d, kw, finals[d, s])
    assert finals["mine", "val"]["spec"] == input_spec("mine", "gtsrb")


def test_the_final_epoch_validation_is_reused_and_metrics_best_is_a_copy(loader, monkeypatch):
    """When the last epoch is the best, the final val numbers are the last validation's (val is
    not evaluated again) and metrics_best equals metrics without sharing its dicts."""
    _rig_validation(monkeypatch, [10.0, 20.0, 30.0])
    calls = _spy_evaluate(monkeypatch)
    result = engine.train(tiny(method="bn", domains=("cifar100",), epochs=3, eval_splits=("val", "test")), CPU,
                          loader=loader)
    val = [who for who, d, s, _ in calls if s == "val"]
    assert val == ["validate"] * 3 and [who for who, d, s, _ in calls if s == "test"] == ["final"]
    assert result.best_epoch == 3 and result.metrics_best == result.metrics
    result.metrics_best["cifar100"]["val"] = -1.0
    assert result.metrics["cifar100"]["val"] != -1.0


def test_lora_evaluates_val_again_on_its_merged_network(loader, pretrained, monkeypatch):
    """Method lora evaluates a merged copy: the final val numbers are computed anew, not reused."""
    calls = _spy_evaluate(monkeypatch)
    config = tiny(method="lora", lora_rank=2, domains=("cifar100",), pretrained=(pretrained,), epochs=1)
    engine.train(config, CPU, loader=loader)
    assert [who for who, d, s, _ in calls if s == "val"] == ["validate", "final"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, loader, pretrained) -> str:
    """cifar100's finetuned network: method parallel_distilled's teacher."""
    config = tiny(method="finetune", domains=("cifar100",), pretrained=(pretrained,), epochs=1, eval_splits=())
    path = tmp_path_factory.mktemp("teacher") / "teacher.safetensors"
    save_model(path, engine.train(config, CPU, loader=loader).model, config)
    return str(path)


def test_a_distilled_run_steps_with_its_frozen_teacher(loader, pretrained, teacher, monkeypatch):
    """parallel_distilled: every step gets the teacher (frozen, in the run's layout) and the
    spec's (weight, temperature)."""
    seen = []
    original = engine.train_step

    def spy(*args, **kw):
        seen.append((kw["teacher"], kw["distill"]))
        return original(*args, **kw)

    monkeypatch.setattr(engine, "train_step", spy)
    config = tiny(method="parallel_distilled", domains=("cifar100",), pretrained=(pretrained, teacher),
                  distill_weight=0.5, distill_temperature=2.0, epochs=1, eval_splits=())
    engine.train(config, CPU, loader=loader)
    assert len(seen) == 4 and all(d == (0.5, 2.0) for _, d in seen)
    t = seen[0][0]
    assert t is not None and not t.training and not any(p.requires_grad for p in t.parameters())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in t.parameters() if p.dim() == 4)


class _FirstStep(Exception):
    """Raised by a spy in place of the first training step."""


def test_the_network_its_teacher_and_every_batch_go_to_the_runtime_s_device(loader, pretrained, teacher,
                                                                             monkeypatch):
    """A run on an accelerator puts the network, the distillation teacher and each batch on that
    device (the uint8 training set may stay on the CPU: the batch moves). The meta device stands
    in for an accelerator here (tensors without data: the run stops at its first step, which the
    spy receives); the CPU would hide a tensor left where it was made."""
    monkeypatch.setattr(engine, "resolve_device", lambda name: torch.device("meta"))
    seen = []

    def first_step(model, optimizer, x, y, domain, **kw):
        seen.append((model, x, y, kw["teacher"]))
        raise _FirstStep

    monkeypatch.setattr(engine, "train_step", first_step)
    config = tiny(method="parallel_distilled", domains=("cifar100",), pretrained=(pretrained, teacher),
                  distill_weight=0.5, distill_temperature=2.0, epochs=1, eval_splits=())
    with pytest.raises(_FirstStep):
        engine.train(config, CPU, loader=loader)
    (model, x, y, frozen), = seen
    assert x.device.type == "meta" and y.device.type == "meta" and x.shape[0] == len(y) == 16
    assert all(p.device.type == "meta" for p in model.parameters())
    assert frozen is not None and frozen is not model and not frozen.training
    assert all(p.device.type == "meta" for p in frozen.parameters())


def test_without_channels_last_on_the_cpu_the_network_runs_in_the_plain_layout(loader, monkeypatch):
    """Runtime(channels_last_cpu=False): the spec's channels_last is not applied on the CPU, so the
    plain layout throughout (runtime.py): the weights, the batch as it enters the network and every
    convolution's output, as its BN receives it (the step turns the input channels-last on CUDA
    only; on the CPU oneDNN follows the weights' layout, build.trainable_model)."""
    entering, convs, kernels = [], [], []
    original = engine.train_step

    def spy(model, optimizer, x, y, domain, **kw):
        if not kernels:
            kernels.extend(p for p in model.parameters() if p.dim() == 4)
            model.register_forward_pre_hook(lambda m, args: entering.append(args[0].is_contiguous()))
            for m in model.modules():  # every convolution's output goes to a BN
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.register_forward_pre_hook(lambda m, args: convs.append(args[0].is_contiguous()))
        return original(model, optimizer, x, y, domain, **kw)

    monkeypatch.setattr(engine, "train_step", spy)
    config = tiny(method="parallel", domains=("cifar100",), channels_last=True, epochs=1, eval_splits=())
    engine.train(config, Runtime(device="cpu", channels_last_cpu=False), loader=loader)
    assert kernels and all(p.is_contiguous() for p in kernels)
    assert len(entering) == 4 and all(entering)
    assert len(convs) > 4 * 20 and all(convs)


def test_a_torchrun_process_on_the_cpu_joins_a_gloo_group_and_ends_it(loader, monkeypatch):
    """Launched by torchrun (WORLD_SIZE and RANK in the environment) with no process group yet,
    the engine joins one with gloo, the CPU's backend (nccl is CUDA's, distributed.py), and
    destroys it when the run ends: the group is the run's. The group here is a one-process gloo
    group in memory, and the other process's values equal this one's."""
    real_init = dist.init_process_group
    joined = []

    def init_process_group(backend=None, **kw):
        joined.append(backend)
        real_init("gloo", store=dist.HashStore(), rank=0, world_size=1)

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(dist, "all_reduce", lambda t: t.mul_(2))
    assert not dist.is_initialized()
    try:
        result = engine.train(tiny(method="bn", domains=("cifar100",), epochs=1, eval_splits=()), CPU,
                              loader=loader)
        left = dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert joined == ["gloo"] and not left
    assert result.world_size == 2 and result.rank == 0 and result.device == "cpu x2"


# ---------------------------------------------------------------- progress bar

def test_the_progress_bar_counts_the_epochs_images(loader, monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, **kw):
            self.kw, self.done, self.postfix = kw, 0, []
            bars.append(self)

        def update(self, n):
            self.done += n

        def set_postfix(self, **kw):
            self.postfix.append(kw)

        def close(self):
            self.closed = True

    monkeypatch.setattr(engine, "tqdm", FakeBar)
    config = tiny(method="bn", domains=("cifar100",), batch_size=8, epochs=2, eval_splits=())
    for progress, disable in ((True, False), (False, True), (None, None)):
        bars.clear()
        result = engine.train(config, Runtime(device="cpu", progress=progress), loader=loader)
        assert [b.kw["desc"] for b in bars] == ["epoch 1/2", "epoch 2/2"]
        for bar, h in zip(bars, result.history):
            assert bar.kw["total"] == bar.done == 64 and bar.kw["unit"] == "img" and bar.kw["unit_scale"] is True
            assert bar.kw["leave"] is False and bar.kw["disable"] is disable and bar.closed
            assert all(re.fullmatch(r"\d+\.\d{3}", p["loss"]) for p in bar.postfix)  # the last loss read
            assert len(bar.postfix) == 1 and all(p.get("refresh") is False for p in bar.postfix)


# ---------------------------------------------------------------- wrappers and processes

@pytest.fixture
def gloo():
    """A one-process gloo group (DDP needs one); destroyed afterwards."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _parts(config, loader):
    from paperlib.train.build import trainable_model

    data = load_run_data(config, loader, torch.device("cpu"))
    model = trainable_model(config, data, torch.device("cpu"), Group(), [], channels_last=False)
    return data, model


def test_wrap_gives_ddp_across_processes_and_compile_when_asked(gloo, loader, monkeypatch):
    for domains in (("cifar100",), ("cifar100", "dtd")):
        config = tiny(method="scratch", domains=domains)
        _, model = _parts(config, loader)
        assert engine._wrap(model, config, CPU, Group(), torch.device("cpu")) is model
        net = engine._wrap(model, config, CPU, Group(world=2), torch.device("cpu"))
        assert isinstance(net, torch.nn.parallel.DistributedDataParallel) and net.module is model
        assert net.find_unused_parameters is (len(domains) > 1) and net.device_ids is None
    from torch import _dynamo

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda net: compiled.append(net) or ("compiled", net))
    config = tiny(method="scratch", domains=("cifar100", "dtd", "svhn", "gtsrb"))
    _, model = _parts(config, loader)
    kept = _dynamo.config.cache_size_limit  # an alias torch's config would lose under monkeypatch
    try:
        for start, limit in ((1, 10), (1000, 1000)):  # one graph per domain and mode, and spares
            _dynamo.config.cache_size_limit = start
            assert engine._wrap(model, config, Runtime(device="cpu", compile=True), Group(),
                                torch.device("cpu")) == ("compiled", model)
            assert limit <= _dynamo.config.cache_size_limit <= max(start, 2 * 4 + 2)
    finally:
        _dynamo.config.cache_size_limit = kept


def test_the_steps_run_through_the_wrapper(loader, monkeypatch):
    """The steps go through the compiled / DDP network (its gradients are the synchronised ones)."""
    calls = []

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            calls.append(len(x))
            return self.inner(x)

    monkeypatch.setattr(torch, "compile", Wrapper)
    engine.train(tiny(method="bn", domains=("cifar100", "dtd"), epochs=1, eval_splits=()),
                 Runtime(device="cpu", compile=True), loader=loader)
    assert calls == [16] * 8


def test_a_caller_s_process_group_is_left_alone(gloo, loader):
    engine.train(tiny(method="bn", domains=("cifar100",), epochs=1, eval_splits=()), CPU, loader=loader)
    assert dist.is_initialized()


def _loop(config, loader, group):
    data, model = _parts(config, loader)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [10])
    return engine._Loop(config, CPU, model, model, optimizer, scheduler, data, torch.device("cpu"), group, None)


def test_each_process_takes_its_slice_of_the_global_batch(loader):
    config = tiny(method="bn", domains=("cifar100",), batch_size=16)
    for world in (2, 4):
        rows = []
        for rank in range(world):
            rows += list(range(16))[_loop(config, loader, Group(rank=rank, world=world)).shard]
        assert rows == list(range(16))
    assert _loop(config, loader, Group()).shard == slice(0, 16)
    assert _loop(tiny(method="bn", domains=("cifar100",), batch_size=64), loader, Group(world=2)).steps == 1
    for batch, world in ((15, 2), (16, 3), (128, 2)):
        with pytest.raises(ValueError, match=rf"batch_size {batch} must divide among {world} processes"):
            _loop(tiny(method="bn", domains=("cifar100",), batch_size=batch), loader, Group(world=world))
    assert _loop(tiny(method="bn", domains=("cifar100",), batch_size=128), loader, Group()).steps == 1


def test_two_simulated_processes_draw_one_global_batch_and_train_on_their_halves(loader, monkeypatch):
    """Every process draws the same global batch (same shuffle, same augmentation) and trains on
    its own half; dropout (torch's global RNG) differs between processes and between epochs."""
    monkeypatch.setattr(dist, "all_reduce", lambda t: t.mul_(2))  # a twin process with equal values
    config = tiny(method="bn", domains=("cifar100",), batch_size=16)
    seen = {}
    make, step_ = engine.make_batch, engine.train_step

    for rank in (0, 1):
        def spy_make(*args, **kw):
            x, y = make(*args, **kw)
            seen.setdefault(rank, {"idx": [], "x": [], "step_x": [], "rng": []})
            seen[rank]["idx"].append(args[2].clone())
            seen[rank]["x"].append(x)
            return x, y

        def spy_step(model, optimizer, x, y, domain, **kw):
            seen[rank]["step_x"].append(x)
            seen[rank]["rng"].append(torch.random.get_rng_state())
            return step_(model, optimizer, x, y, domain, **kw)

        monkeypatch.setattr(engine, "make_batch", spy_make)
        monkeypatch.setattr(engine, "train_step", spy_step)
        loop = _loop(config, loader, Group(rank=rank, world=2))
        for epoch in range(2):
            loop.run_epoch(epoch, [], 0.0)
    for a, b in zip(seen[0]["idx"], seen[1]["idx"]):
        assert torch.equal(a, b) and len(a) == 16
    for rank in (0, 1):
        for x, sx in zip(seen[rank]["x"], seen[rank]["step_x"]):
            assert torch.equal(sx, x[rank * 8:(rank + 1) * 8])
    assert torch.equal(seen[0]["x"][0], seen[1]["x"][0])
    first = [seen[r]["rng"][i] for r in (0, 1) for i in (0, 4)]  # epochs 1 and 2 start at step 0 and 4
    assert all(not torch.equal(first[i], first[j]) for i in range(4) for j in range(i))


def test_a_simulated_second_process_returns_an_ordinary_model(gloo, loader, monkeypatch):
    """Under torchrun the BNs are swapped for synchronised ones while training and back to plain
    BNs in the returned model; the result names the process and the world."""
    monkeypatch.setattr(engine, "init_distributed", lambda device: Group(rank=1, world=2, local_rank=1))
    monkeypatch.setattr(dist, "all_reduce", lambda t: t.mul_(2))
    swapped = []
    original = engine.train_step

    def spy(model, *args, **kw):
        swapped.append(any(isinstance(m, AllReduceBatchNorm2d) for m in model.modules()))
        return original(model, *args, **kw)

    monkeypatch.setattr(engine, "train_step", spy)
    result = engine.train(tiny(method="bn", domains=("cifar100",), epochs=1), CPU, loader=loader)
    assert swapped and all(swapped)
    assert not any(isinstance(m, AllReduceBatchNorm2d) for m in result.model.modules())
    assert result.world_size == 2 and result.rank == 1 and result.device == "cpu x2"
    assert set(result.metrics["cifar100"]) == {"val"}


def test_a_head_run_keeps_the_source_s_bn_statistics(loader, pretrained):
    """Method head is a frozen feature extractor (Table 1): its BNs normalise with the source's
    running statistics and never update them; only the head moves."""
    from paperlib.train.build import build_model

    config = tiny(method="head", domains=("cifar100",), pretrained=(pretrained,), epochs=1, eval_splits=())
    initial = build_model(config, {"cifar100": 4}).state_dict()
    final = engine.train(config, CPU, loader=loader).model.state_dict()
    stats = [k for k in final if "running_" in k or "num_batches_tracked" in k]
    assert stats and all(torch.equal(initial[k], final[k]) for k in stats)
    assert not torch.equal(initial["classifier.heads.cifar100.weight"], final["classifier.heads.cifar100.weight"])
