"""Where and how a run executes (`Runtime`): data folder, device, torch.compile, progress bars,
the parallel adapters' training form and the CPU memory layout. Never part of a run's identity:
the same spec on another device or with its data elsewhere is the same run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperlib.core.paths import project_root
from paperlib.train.profiles import get_profile

DEVICES = ("auto", "cpu", "cuda")  # or "cuda:N"


@dataclass(frozen=True)
class Runtime:
    """Where and how a run executes; never part of its identity (see the module docstring).

    Threads. A run uses the torch threads of the process that trains it: the caller's when
    `running.run_all` trains serially (torch's default, one per core, or OMP_NUM_THREADS), and
    the slot's in each worker when it trains runs side by side (`series.workers.plan_slots`: one
    training per usable core with one thread at mini, every core for one training otherwise). Why
    one per worker on a shared core: OpenMP's barriers wait for whole scheduler slices, and two
    threads measured 2.4x to 25x slower than one (benchmarks/README.md); the small smoke / mini
    networks keep one core busy on their own.

    bf16 autocast on the CPU is the spec's (`TrainConfig.cpu_bf16`: it changes the results, so a
    bf16 run and a float32 run are two runs), not the runtime's. Measured on an AMD EPYC with
    AVX512-BF16 (2 cores, channels-last, fused parallel adapters; `paperlib bench` variants
    `bf16`, `threads1+channels_last+bf16`, benchmarks/README.md), a bf16 step over a float32 one:
    smoke 0.99 to 1.08 (no gain), mini 0.85 to 0.88 at one thread, full 0.53. The series trains
    float32 unless asked (`series.study.Study.cpu_bf16`): whether bf16 keeps the accuracy within an
    equivalence margin is a benchmark (benchmarks/mini_bf16.py), not a default; full runs on GPUs,
    where `amp` is its bf16.

    CPU compile, decided from `paperlib bench` and an ad hoc check (benchmarks/README.md):
    `compile` stays False on the CPU for every profile. On a quiet machine, one thread, the mini
    setting at batch 32 (channels-last), inductor compiled finetuning in 52 s (cold cache) for
    0.88x of eager's step: 5.8 ms a step, so a 12,800-step mini pretraining wins about 20 s net,
    and every adaptation (a few hundred steps) loses; each worker process compiles every run
    anew. On CUDA it is worth it (the bench's `variants`); pass `compile=True` there.

    Fused parallel-adapter training (`paperlib.model.fused`, sec. 3.1.2) by device, from the bench
    (benchmarks/cpu.json, h100.json, h100_b512*.json, h100_b1024.json): on the CPU, where the
    convolutions are the step, it is the faster form at every setting; on one H100 it wins at
    batch 1024 (eager and compiled), at batch 512 eager (two runs: 1.12x and 0.97x of finetuning's
    step, against 1.15x and 1.10x for the two branches; compiled, a tie), and loses to the two
    branches at batch 256, where its few extra kernels per layer
    weigh in a short step. `fused_adapters` None follows that; True / False force a form. Both
    forms compute the same function (tests/test_fused.py) up to float rounding.

    `channels_last_cpu`: the spec's `channels_last` applied on the CPU too (the model's weights
    channels-last, so oneDNN runs every convolution in that layout). On by default: the bench's
    `threads1+channels_last` variant (`paperlib bench --device cpu`), one thread
    as the series' workers train, measured 0.91x of the plain layout's step for finetuning and
    0.88x for fused parallel adapters at the mini setting (benchmarks/cpu.json), and notebook 01
    agreed (benchmarks/README.md). oneDNN's plain-layout kernels are slowest at the mini's narrow
    first stage. False gives the plain layout (the same function up to float rounding).
    """

    data_dir: str = "data/decathlon/cache-72"  # prepared cache read by paperlib.data.load_split
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    compile: bool = False  # torch.compile the model
    progress: bool | None = None  # tqdm bar per epoch; None: only when stderr is a terminal
    fused_adapters: bool | None = None  # parallel adapters as one convolution; None: `fused_training_for`
    channels_last_cpu: bool = True  # the spec's channels_last on the CPU as well; see above

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"unknown device {self.device!r}; valid: {', '.join(DEVICES)} or cuda:N")

    def fused_training_for(self, device_type: str, batch_size: int) -> bool:
        """Whether a training on a `device_type` ("cpu", "cuda") device at `batch_size` runs its
        parallel adapters fused (the class docstring): `fused_adapters` if set, else always on the
        CPU and at batch 512 and more on CUDA (measured: faster at 512 and 1024, slower at 256;
        untested in between)."""
        if self.fused_adapters is not None:
            return self.fused_adapters
        return device_type == "cpu" or batch_size >= 512

    @classmethod
    def for_profile(cls, profile: str, *, data_root: str | None = None, seed: int = 0, **fields: Any) -> "Runtime":
        """The profile's prepared cache under `data_root`; by default the profile's folder under the
        project root and, for a generated MiniDecathlon, the generation of `seed` (the data seed) in
        it: where the notebooks put it, whatever the working directory."""
        p = get_profile(profile)
        root = Path(data_root) if data_root else project_root() / p.data_folder(seed)
        fields.setdefault("data_dir", str(root / p.cache_name))  # an explicit one wins
        return cls(**fields)
