"""DistributedDataParallel through the engine's own torchrun path, on CPU with gloo.

Two processes (launched as torchrun would: RANK / WORLD_SIZE / MASTER_* in the environment) with
a global batch of 16 must end with the weights one process gets with the same global batch.
That holds exactly only if batch norm sees the global batch: the engine synchronises BN
statistics (nn.SyncBatchNorm on CUDA; on CPU, where PyTorch has none, `AllReduceBatchNorm2d`),
so the comparison covers BN running statistics too, at float32 round-off tolerance.

The learning rate is 0.01: at 0.05 this tiny network is chaotic (a 1e-7 relative perturbation of
its initial weights already moves them by 6e-4 after four steps), which would hide what the test
is about behind amplified round-off.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import random_loader  # noqa: E402

from paperlib.checkpoint import load_weights, save_weights  # noqa: E402
from paperlib.config import Runtime, TrainConfig  # noqa: E402
from paperlib.engine import train  # noqa: E402

CPU = Runtime(device="cpu")


def _config(**changes) -> TrainConfig:
    base = dict(method="scratch", domains=("imagenet12", "cifar100"), width=0.125, epochs=2, batch_size=16,
                lr=0.01, profile="smoke", train_limit_batches=None, eval_limit_batches=None)
    return TrainConfig(**{**base, **changes})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(out: Path) -> None:
    torch.set_num_threads(1)
    result = train(_config(), CPU, loader=random_loader())
    if result.rank == 0:
        save_weights(out / "ddp.safetensors", result.model.state_dict(), {})
        (out / "ddp.json").write_text(json.dumps({"metrics": result.metrics, "device": result.device,
                                                  "world": result.world_size, "history": result.history}))


@pytest.mark.slow
def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, __file__, str(tmp_path)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    # meanwhile, the same run in one process
    torch.manual_seed(0)
    single = train(_config(), CPU, loader=random_loader())
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out[-3000:]

    ddp_state, _ = load_weights(tmp_path / "ddp.safetensors")
    info = json.loads((tmp_path / "ddp.json").read_text())
    assert info["world"] == 2 and info["device"] == "cpu x2"
    one = single.model.state_dict()
    assert set(ddp_state) == set(one)
    worst = max(float((ddp_state[k].double() - one[k].double()).abs().max()) for k in one)
    assert worst < 1e-4, f"largest difference {worst}"
    # the training really moved the weights (the comparison is not between two initialisations)
    assert not torch.equal(one["classifier.heads.cifar100.weight"], ddp_state["classifier.heads.cifar100.weight"] * 0)
    for a, b in zip(info["history"], single.history):
        for d in a["loss"]:
            assert a["loss"][d] == pytest.approx(b["loss"][d], rel=1e-4)
    # BN running statistics of both domains were updated from the global batch
    assert int(ddp_state["stem.bn.norms.cifar100.num_batches_tracked"]) == int(one["stem.bn.norms.cifar100.num_batches_tracked"]) > 0


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
