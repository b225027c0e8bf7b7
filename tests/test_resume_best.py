"""A run killed after its best epoch resumes to the same best-on-validation weights and metrics as
an uninterrupted one: the best epoch's state travels in the checkpoint (engine._resume)."""

from __future__ import annotations

import pytest
import torch

from conftest import random_loader
from paperlib.train import engine
from paperlib.train.checkpoint import load_checkpoint
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig

CONFIG = dict(method="parallel", domains=["cifar100", "dtd"], width=0.125, epochs=4, batch_size=16, lr=0.05,
              dropout=0.25, profile="smoke", train_limit_batches=None, eval_limit_batches=None,
              eval_splits=["val", "test"])
BEST, KILLED_AFTER = 2, 3  # epochs


class Killed(Exception):
    """Stands for SIGKILL right after a checkpoint (tests/test_train_resume.py kills a process)."""


@pytest.fixture
def best_at_epoch_two(monkeypatch):
    """Validation reports 100% after epoch BEST and the true accuracies otherwise, so the best
    epoch is known whatever the network learns; the weights kept are the network's own."""
    validate = engine._Loop.validate

    def rigged(self, *, final=False):
        out = validate(self, final=final)
        epoch = self.scheduler.last_epoch  # stepped once per epoch, before validation
        return {d: 100.0 for d in out} if epoch == BEST else out

    monkeypatch.setattr(engine._Loop, "validate", rigged)


def _kill_after(monkeypatch, epoch: int) -> None:
    save = engine.save_checkpoint

    def save_then_die(path, state):
        save(path, state)
        if state["epoch"] == epoch:
            raise Killed

    monkeypatch.setattr(engine, "save_checkpoint", save_then_die)


def test_killed_after_its_best_epoch_resumes_to_the_same_best(tmp_path, monkeypatch, best_at_epoch_two):
    config, runtime, loader = TrainConfig.from_dict(CONFIG), Runtime(device="cpu"), random_loader()
    clean = engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "clean.ckpt")

    with monkeypatch.context() as patch:
        _kill_after(patch, KILLED_AFTER)
        with pytest.raises(Killed):
            engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "killed.ckpt")
    assert load_checkpoint(tmp_path / "killed.ckpt")["best"]["epoch"] == BEST
    resumed = engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "killed.ckpt")

    assert resumed.resumed_from_epoch == KILLED_AFTER and clean.resumed_from_epoch is None
    assert clean.best_epoch == resumed.best_epoch == BEST
    assert resumed.metrics_best == clean.metrics_best and resumed.metrics == clean.metrics
    assert resumed.metrics_best != resumed.metrics  # the best epoch's weights are not the last ones
    best_clean = load_checkpoint(tmp_path / "clean.ckpt")["best"]
    best_resumed = load_checkpoint(tmp_path / "killed.ckpt")["best"]
    assert best_clean["epoch"] == best_resumed["epoch"] == BEST and best_clean["score"] == best_resumed["score"]
    assert best_clean["model"].keys() == best_resumed["model"].keys()
    assert all(torch.equal(best_clean["model"][k], best_resumed["model"][k]) for k in best_clean["model"])
    final = resumed.model.state_dict()
    assert any(not torch.equal(final[k], best_clean["model"][k]) for k in final)


def test_a_run_without_validation_resumes_with_no_best(tmp_path, monkeypatch):
    config = TrainConfig.from_dict({**CONFIG, "epochs": 2, "eval_splits": ["test"]})
    runtime, loader = Runtime(device="cpu"), random_loader()
    with monkeypatch.context() as patch:
        _kill_after(patch, 1)
        with pytest.raises(Killed):
            engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "run.ckpt")
    assert load_checkpoint(tmp_path / "run.ckpt")["best"] is None
    resumed = engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "run.ckpt")
    assert resumed.resumed_from_epoch == 1 and resumed.best_epoch is None and resumed.metrics_best is None


def test_a_checkpoint_of_another_run_is_refused_by_name(tmp_path):
    config, runtime, loader = TrainConfig.from_dict({**CONFIG, "epochs": 1}), Runtime(device="cpu"), random_loader()
    engine.train(config, runtime, loader=loader, checkpoint=tmp_path / "run.ckpt")
    other = TrainConfig.from_dict({**CONFIG, "epochs": 1, "seed": 1})
    with pytest.raises(ValueError, match=r"run\.ckpt belongs to another run; delete it or change the path"):
        engine.train(other, runtime, loader=loader, checkpoint=tmp_path / "run.ckpt")
