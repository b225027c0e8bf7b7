"""Two processes asking one store for the same run: the second waits for the first (which holds
the run's lock), then loads its record. Both succeed, one trains, no RecordExistsError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONFIG = dict(method="parallel", domains=["cifar100"], width=0.125, epochs=1, batch_size=16, lr=0.05,
              profile="smoke", eval_splits=["val"])


def _child(store: str, gate: str) -> None:
    """One process: run_or_load with `train` wrapped to announce itself and (test scaffolding)
    hold the lock until the gate file exists, so the other process surely finds it taken."""
    import torch
    from conftest import random_loader

    from paperlib.train import run
    from paperlib.train.spec import TrainConfig

    torch.set_num_threads(1)
    train = run.train

    def announced_train(*args, **kwargs):
        Path(store, "training").write_text(str(os.getpid()))
        while gate and not Path(gate).exists():
            time.sleep(0.05)
        print("TRAINED", flush=True)
        return train(*args, **kwargs)

    run.train = announced_train  # the name run_or_load calls
    record = run.run_or_load(TrainConfig.from_dict(CONFIG), store, loader=random_loader(n=32, n_eval=16))
    print("METRICS " + json.dumps(record["metrics"], sort_keys=True), flush=True)


def _launch(store: Path, gate: Path | str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, str(store), str(gate)], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for(condition, what: str, procs) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert all(p.poll() is None for p in procs), f"a process ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 120 s"
        time.sleep(0.05)


def test_two_processes_one_run_both_succeed_one_trains(tmp_path):
    store, gate = tmp_path / "store", tmp_path / "gate"
    store.mkdir()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = _launch(store, gate, logs[0])
    _wait_for(lambda: (store / "training").exists(), "training start", [first])  # it holds the lock now
    second = _launch(store, gate, logs[1])
    _wait_for(lambda: "another process is training it" in logs[1].read_text(), "wait message", [first, second])
    gate.touch()
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0, [p.read_text()[-2000:] for p in logs]
    out = [p.read_text() for p in logs]
    assert out[0].count("TRAINED") == 1 and "TRAINED" not in out[1]  # the second loaded the record
    metrics = [next(line for line in o.splitlines() if line.startswith("METRICS")) for o in out]
    assert metrics[0] == metrics[1]
    assert not any(store.rglob("*.ckpt"))  # no stale checkpoint left


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
