"""Nothing is lost: a run killed with SIGKILL and started again ends exactly where an
uninterrupted run ends (same weights, metrics and history, bit for bit on the CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import random_loader  # noqa: E402

from paperlib.core.files import load_weights  # noqa: E402
from paperlib.train.checkpoint import load_checkpoint
from paperlib.train.run import run_or_load  # noqa: E402
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig  # noqa: E402
from paperlib.train.store import ResultStore  # noqa: E402

CONFIG = dict(method="parallel", domains=["cifar100", "dtd"], width=0.125, epochs=5, batch_size=16, lr=0.05,
              dropout=0.25, profile="smoke", train_limit_batches=None, eval_limit_batches=None,
              eval_splits=["val", "test"])


def _run(store: Path, pause_after_checkpoint: float = 0.0) -> dict:
    """What the subprocess does; the pause (test scaffolding only) leaves time to kill it."""
    torch.set_num_threads(1)
    if pause_after_checkpoint:
        from paperlib.train import engine

        save = engine.save_checkpoint

        def save_then_pause(*args, **kwargs):
            save(*args, **kwargs)
            time.sleep(pause_after_checkpoint)

        engine.save_checkpoint = save_then_pause  # the name the epoch loop calls
    return run_or_load(TrainConfig.from_dict(CONFIG), store, Runtime(device="cpu"), loader=random_loader())


def _launch(store: Path, pause: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, str(store), str(pause)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_sigkilled_run_resumes_to_the_same_result(tmp_path):
    config = TrainConfig.from_dict(CONFIG)
    killed_store, clean_store = ResultStore(tmp_path / "killed"), ResultStore(tmp_path / "clean")
    ckpt_path = killed_store.checkpoint_path(config)

    # 1. start the run; while it starts, an uninterrupted run of the same config in this process
    proc = _launch(killed_store.root, pause=3.0)
    threads = torch.get_num_threads()
    try:
        clean = _run(clean_store.root)
    finally:
        torch.set_num_threads(threads)

    # 2. SIGKILL the first one as soon as a checkpoint is on disk (it pauses 3 s after each)
    deadline = time.monotonic() + 60
    while not ckpt_path.exists():
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(ckpt_path)
    assert 1 <= state["epoch"] < config.epochs
    assert not killed_store.exists(config) and not killed_store.weights_path(config).exists()

    # 3. start it again: it resumes from the checkpoint and finishes
    proc = _launch(killed_store.root, pause=0.0)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    resumed = killed_store.load(config)
    assert resumed["resumed_from_epoch"] == state["epoch"] and clean["resumed_from_epoch"] is None
    assert not ckpt_path.exists()  # removed once the record is written

    # 4. same metrics, history (losses, accuracies, lr) and weights, exactly
    assert resumed["metrics"] == clean["metrics"]
    assert resumed["metrics_best"] == clean["metrics_best"] and resumed["best_epoch"] == clean["best_epoch"]
    assert clean["metrics_best"] is not None and all("val_acc" in e for e in clean["history"])
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(clean["history"])
    a, _ = load_weights(killed_store.weights_path(config))
    b, _ = load_weights(clean_store.weights_path(config))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pa, pb = killed_store.load_predictions(config), clean_store.load_predictions(config)
    assert all(torch.equal(pa[d]["test"][1], pb[d]["test"][1]) for d in config.domains)


if __name__ == "__main__":
    record = _run(Path(sys.argv[1]), pause_after_checkpoint=float(sys.argv[2]))
    print(json.dumps(record["metrics"]))
