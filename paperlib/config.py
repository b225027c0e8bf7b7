"""What a run is: its spec (`TrainConfig`, hashed) and its `Runtime` (not hashed). The profiles
that size them (`Profile`, `get_profile`) are in profiles.py, re-exported here.

A run's spec holds everything that decides its result: method, domains, width, schedule, seed,
placement, the upstream runs it starts from (as specs, nested in `pretrained`) and the data by
its content identity (`data`: a digest of the cache manifests, never a path). The results store
finds a run by `TrainConfig.run_id`, the hash of the spec's stable JSON. Where things are and
how they run (data folder, device, torch.compile, progress bars) is the `Runtime`: moving the
data or the store, or changing the device, finds the same runs. Construction is strict: an
unknown key, a value of the wrong type or an unknown method / domain / profile is an error that
lists the valid ones.

Defaults are the authors' (docs/authors_code.md, "Training"): SGD, lr 0.1, momentum 0.9, batch 128,
120 epochs with lr x0.1 at epoch 80 and x0.01 at 100 (stored as fractions of the epochs so a
shorter profile keeps the shape of the schedule).

Weight decay: the authors' effective values (docs/authors_code.md, "Weight decay in the
authors' code"), which are not their flags' face values: their SGD overwrites the decay inside the
parameter loop with the one of the last 4-d tensor it met, so every BN and classifier takes the
decay of the convolution trained before it.
- adapters (1x1 alpha, or gamma_t after joint SVD): per domain, paper sec. 4.1: 0.002 for
  aircraft, dtd, vgg-flowers; 0.0005 for omniglot, daimlerpedcls, ucf101; 0.0001 for cifar100,
  gtsrb, svhn. imagenet12 (not given by the paper; only used when pretraining a network with
  series adapters in it) gets 0.0001: it is the largest training set, and the paper's rule is
  "the larger the set, the smaller the decay".
- 3x3 convolutions (scratch, finetune): `shared_weight_decay` = 1e-4 (their `--wd3x3 1.`).
- BNs and classifiers (`norm_head_decay="authors"`): the 3x3 decay when the 3x3 convolutions train
  (scratch, finetune), else the domain's adapter decay when its adapters train (series, parallel,
  svd), else `weight_decay` = 5e-4 (their `--wd 5.`, what a run that trains no 4-d tensor gets:
  bn); and 5e-4 for a series network's stem-adapter BN1 in adapter runs, which no 4-d tensor
  precedes (`decay.norm_head_decays`). `norm_head_decay="weight_decay"` gives every BN and
  classifier `weight_decay` (this project's earlier rule; not the authors').
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import DOMAINS
from .models import METHODS, PLACEMENTS
from .profiles import PROFILES, Profile, get_profile, profile_defaults  # Profile, get_profile: re-exported
from .strict import describe_type, freeze, matches_type

SPLITS = ("train", "val", "trainval", "test")
DEVICES = ("auto", "cpu", "cuda")  # or "cuda:N"
ADAPTERS = ("series", "parallel")
NORM_HEAD_DECAYS = ("authors", "weight_decay")


def paper_adapter_weight_decay() -> dict[str, float]:
    """Adapter weight decay per domain (paper sec. 4.1; imagenet12: this reproduction's choice)."""
    return {
        "aircraft": 0.002, "dtd": 0.002, "vgg-flowers": 0.002,
        "omniglot": 0.0005, "daimlerpedcls": 0.0005, "ucf101": 0.0005,
        "cifar100": 0.0001, "gtsrb": 0.0001, "svhn": 0.0001,
        "imagenet12": 0.0001,
    }


# ---------------------------------------------------------------- the runtime


@dataclass(frozen=True)
class Runtime:
    """Where and how a run executes; never part of its identity (see the module docstring).

    Threads (issue 12). A run uses the torch threads of the process that trains it: the
    caller's when `experiments.run_all` trains serially (torch's default, one per core, or
    OMP_NUM_THREADS), and exactly one in each worker when it trains runs side by side
    (`Study.workers`, parallel_runs). Why one per worker: on a CPU whose cores other jobs share,
    OpenMP's barriers wait for whole scheduler slices, and two threads measured 2.4x to 25x
    slower than one (benchmarks/README.md); the small smoke / mini networks keep one core busy
    on their own, so the cores are used by independent runs instead of by one run's threads.

    CPU compile, decided from `paperlib bench` and an ad hoc check (benchmarks/README.md):
    `compile` stays False on the CPU for every profile. On a quiet machine, one thread, the mini
    setting at batch 32 (channels-last), inductor compiled finetuning in 52 s (cold cache) for
    0.88x of eager's step: 5.8 ms a step, so a 12,800-step mini pretraining wins about 20 s net,
    and every adaptation (a few hundred steps) loses; each worker process compiles every run
    anew. On CUDA it is worth it (the bench's `variants`); pass `compile=True` there.

    Fused parallel-adapter training (`paperlib.fused`, sec. 3.1.2) by device, from the bench
    (benchmarks/cpu.json, h100.json, h100_b512*.json, h100_b1024.json): on the CPU, where the
    convolutions are the step, it is the faster form at every setting; on one H100 it wins at
    batch 1024 (eager and compiled), at batch 512 eager (two runs: 1.12x and 0.97x of finetuning's
    step, against 1.15x and 1.10x for the two branches; compiled, a tie), and loses to the two
    branches at batch 256, where its few extra kernels per layer
    weigh in a short step. `fused_adapters` None follows that; True / False force a form. Both
    forms compute the same function (tests/test_fused.py) up to float rounding.

    `channels_last_cpu`: the spec's `channels_last` applied on the CPU too (the model's weights
    channels-last, so oneDNN runs every convolution in that layout). On by default since the
    mini re-run of 2026-11-26 (evening): the bench's `threads1+channels_last` variant, one thread
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
        """The profile's prepared cache under `data_root`; by default the profile's folder and, for a
        generated MiniDecathlon, the generation of `seed` in it (where the notebooks put it)."""
        p = get_profile(profile)
        fields.setdefault("data_dir", str(Path(data_root or p.data_folder(seed)) / p.cache_name))  # an explicit one wins
        return cls(**fields)


# ---------------------------------------------------------------- the run config


@dataclass(frozen=True)
class TrainConfig:
    """The spec of one training run: everything that decides its outcome (see the module
    docstring); `run_id` is its hash.

    Build it with `TrainConfig(...)`, `TrainConfig.for_profile("mini", ...)` or
    `TrainConfig.from_dict(d)` (strict: unknown keys and wrong types raise).
    """

    # what to train
    method: str = "parallel"  # one of models.METHODS
    domains: tuple[str, ...] = ("cifar100",)  # several: trained together, batches alternate
    profile: str = "full"  # results go under results/<profile>/
    data: str = ""  # content identity of the data read (identity.data_identity); "": not bound yet
    # model (models.ModelConfig)
    width: float = 1.0  # channel multiplier of ResNet-26
    adapter: str | None = "auto"  # "auto": from the method (svd -> parallel); None, series, parallel
    placement: str = "all"  # all / early / mid / late / half (Table 1)
    dropout: float = 0.0  # dropout2d before the second parallel adapter of each block (sec. 4.1)
    adapter_init: str = "he"  # he (authors' code) or zeros (start at the pretrained network)
    # optimisation
    epochs: int = 120
    batch_size: int = 128  # global batch (split across processes under torchrun)
    lr: float = 0.1
    momentum: float = 0.9
    milestones: tuple[float, ...] = (80 / 120, 100 / 120)  # fractions of `epochs`
    lr_decay: float = 0.1  # lr factor at each milestone
    # a run that continues a schedule begun by its upstream run (svd after its parallel runs):
    schedule_epochs: int | None = None  # length of the schedule the milestones refer to; None -> epochs
    schedule_start: int = 0  # the schedule's epoch this run starts at (its lr starts decayed accordingly)
    weight_decay: float = 5e-4  # BNs, classifiers when no 4-d tensor trains (see norm_head_decay)
    shared_weight_decay: float | None = 1e-4  # 3x3 convs (authors' --wd3x3 1.); None -> weight_decay
    norm_head_decay: str = "authors"  # BNs, heads: "authors" (module docstring) or "weight_decay"
    adapter_weight_decay: tuple[tuple[str, float], ...] = ()  # per-domain overrides of the paper's
    # data
    crop: int | None = None  # train/test crop; None -> 8/9 of the side, a multiple of 8 (64 of 72)
    train_split: str = "train"  # train, or trainval for the test-set numbers
    eval_splits: tuple[str, ...] = ("val",)
    train_fraction: float = 1.0  # seeded class-stratified subset of the train split (sec. 4.3)
    class_fraction: float = 1.0  # seeded subset of the classes, train and eval (fig. 4b pretraining)
    # transfer
    # upstream runs (their specs: the store finds their weights) or weight files (.safetensors)
    pretrained: tuple[TrainConfig | str, ...] = ()
    source_domain: str = "imagenet12"  # domain of the pretrained network new domains start from
    svd_rank: float | None = None  # method svd: K as a fraction of C in (0, 1]; None -> C/2 (sec. 3.4)
    svd_rank_abs: int | None = None  # method svd: K itself (capped at C), instead of svd_rank
    svd_domains: tuple[str, ...] = ()  # method svd: adapters compressed together; () -> domains
    lora_rank: int | None = None  # method lora: rank r of the peft LoRA on every 3x3 conv (paperlib.lora)
    # numerics
    seed: int = 0
    amp: bool = True  # bf16 autocast (CUDA only; no-op on CPU)
    channels_last: bool = True  # CUDA, and the CPU with Runtime.channels_last_cpu (its default)
    sync_bn: bool = True  # under torchrun: batch statistics over the global batch
    train_limit_batches: int | None = None  # dry runs: at most this many steps per epoch
    eval_limit_batches: int | None = None  # dry runs: at most this many batches per split
    eval_batch_size: int = 256

    # ------------------------------------------------------------ validation

    def __post_init__(self) -> None:
        _check_types(self)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid methods: {', '.join(METHODS)}")
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; valid profiles: {', '.join(PROFILES)}")
        if not self.domains:
            raise ValueError("domains is empty; give at least one of: " + ", ".join(DOMAINS))
        # a domain of the user's own (paperlib adapt) is declared by giving its adapter decay: the one
        # per-domain fact the engine needs that the Decathlon's table cannot supply
        own = {d for d, _ in self.adapter_weight_decay if d in self.domains}
        for name in (*self.domains, self.source_domain, *self.svd_domains, *(d for d, _ in self.adapter_weight_decay)):
            if name not in DOMAINS and name not in own:
                raise ValueError(f"unknown domain {name!r}; valid domains: {', '.join(DOMAINS)} "
                                 "(or your own, with its decay in adapter_weight_decay)")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains repeat: {self.domains}")
        wanted = {"series": "series", "parallel": "parallel", "svd": "parallel"}.get(self.method)
        if self.adapter == "auto":
            set_("adapter", wanted)
        elif self.adapter is not None and self.adapter not in ADAPTERS:
            raise ValueError(f"unknown adapter {self.adapter!r}; choose 'auto', None or one of {ADAPTERS}")
        if wanted is not None and self.adapter != wanted:
            raise ValueError(f"method {self.method!r} needs adapter {wanted!r}, got {self.adapter!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {self.placement!r}; valid placements: {', '.join(PLACEMENTS)}")
        for split in (self.train_split, *self.eval_splits):
            if split not in SPLITS:
                raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        if self.method == "svd" and not self.pretrained:
            raise ValueError("method 'svd' compresses trained parallel adapters: give their weight files in pretrained")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "width": self.width,
                    "eval_batch_size": self.eval_batch_size}
        for key, value in positive.items():
            if value <= 0:
                raise ValueError(f"{key} must be positive, got {value}")
        for key in ("train_limit_batches", "eval_limit_batches"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key} must be None or >= 1, got {getattr(self, key)}")
        if self.svd_domains and (self.method != "svd" or not set(self.domains) <= set(self.svd_domains)):
            raise ValueError(f"svd_domains {self.svd_domains} needs method 'svd' and must include domains {self.domains}")
        _check_svd_rank(self)
        if (self.method == "lora") != (self.lora_rank is not None) or (self.lora_rank is not None and self.lora_rank < 1):
            raise ValueError(f"method 'lora' needs lora_rank >= 1 and lora_rank applies to method 'lora' only; "
                             f"got method {self.method!r}, lora_rank {self.lora_rank!r}")
        for key in ("train_fraction", "class_fraction"):
            if not 0.0 < getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in (0, 1], got {getattr(self, key)}")
        if any(not 0.0 <= m <= 1.0 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing fractions of the epochs in [0, 1], got {self.milestones}")
        if self.norm_head_decay not in NORM_HEAD_DECAYS:
            raise ValueError(f"unknown norm_head_decay {self.norm_head_decay!r}; valid: {', '.join(NORM_HEAD_DECAYS)}")
        schedule = self.schedule_epochs if self.schedule_epochs is not None else self.epochs
        if self.schedule_start < 0 or self.schedule_start + self.epochs > schedule:
            raise ValueError(f"schedule_start {self.schedule_start} + epochs {self.epochs} must fit in the "
                             f"schedule's {schedule} epochs")
        if self.crop is not None and self.crop < 1:
            raise ValueError(f"crop must be None or >= 1, got {self.crop}")
        decays = [self.weight_decay, *(v for _, v in self.adapter_weight_decay)]
        if self.shared_weight_decay is not None:
            decays.append(self.shared_weight_decay)
        if any(v < 0 for v in decays) or not 0 <= self.momentum < 1 or not 0 < self.lr_decay <= 1:
            raise ValueError("weight decays must be >= 0, momentum in [0, 1) and lr_decay in (0, 1]")

    # ------------------------------------------------------------ construction

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Strict: every key must be a field; lists become tuples; values are type-checked."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown TrainConfig key(s) {unknown}; valid keys: {', '.join(names)}")
        frozen = {k: freeze(v) for k, v in values.items()}
        if "pretrained" in values and isinstance(values["pretrained"], list | tuple):  # nested upstream specs
            frozen["pretrained"] = tuple(cls.from_dict(p) if isinstance(p, Mapping) else p
                                         for p in values["pretrained"])
        return cls(**frozen)

    @classmethod
    def for_profile(cls, profile: str, **overrides: Any) -> "TrainConfig":
        """The profile's defaults, then `overrides` (strict, as `from_dict`)."""
        return cls.from_dict({**profile_defaults(profile), **overrides})

    def replace(self, **changes: Any) -> "TrainConfig":
        return self.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------ identity

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists); `from_dict(to_dict())` gives back an equal config."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        """Stable JSON: sorted keys, no whitespace; the same config always gives the same bytes."""
        values = dataclasses.asdict(self)
        if values["lora_rank"] is None:  # added later: runs without LoRA keep the run ids they had
            del values["lora_rank"]
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """16 hex digits of the SHA-256 of the spec's stable JSON; an upstream weight file given
        by path counts by its content (identity.file_identity), never by where it is."""
        from .identity import file_identity

        values = self.to_dict()
        values["pretrained"] = [p.run_id if isinstance(p, TrainConfig) else file_identity(p) for p in self.pretrained]
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def upstream(self) -> tuple["TrainConfig", ...]:
        """The runs this one starts from (its `pretrained` entries that are specs)."""
        return tuple(p for p in self.pretrained if isinstance(p, TrainConfig))

    @property
    def data_splits(self) -> tuple[str, ...]:
        """The cache entries' splits this run reads (trainval is train + val at load time)."""
        train = ("train", "val") if self.train_split == "trainval" else (self.train_split,)
        return tuple(dict.fromkeys((*train, *self.eval_splits)))

    @property
    def svd_k(self) -> float | int | None:
        """The rank argument of `compress.resolve_rank`: svd_rank_abs (an int: K), else svd_rank
        (a float: a fraction of C), else None (C/2)."""
        return self.svd_rank_abs if self.svd_rank_abs is not None else self.svd_rank

    def adapter_decay(self, domain: str) -> float:
        """Weight decay of `domain`'s adapters: the override if given, else the paper's value."""
        overrides = dict(self.adapter_weight_decay)
        return overrides[domain] if domain in overrides else paper_adapter_weight_decay()[domain]

    def milestone_epochs(self) -> list[int]:
        """The milestones in this run's epochs (80 and 100 of 120); a repeated epoch decays twice
        there. A run continuing a schedule (schedule_start > 0) gets those still ahead of it."""
        schedule = self.schedule_epochs if self.schedule_epochs is not None else self.epochs
        at = [int(round(m * schedule)) for m in self.milestones]
        if self.schedule_start == 0:
            return at
        return [e - self.schedule_start for e in at if e > self.schedule_start]

    @property
    def initial_lr(self) -> float:
        """The learning rate of this run's first epoch: `lr`, decayed once per milestone the
        schedule passed before `schedule_start` (the schedule continues, it does not restart)."""
        if self.schedule_start == 0:
            return self.lr
        schedule = self.schedule_epochs if self.schedule_epochs is not None else self.epochs
        passed = sum(int(round(m * schedule)) <= self.schedule_start for m in self.milestones)
        return self.lr * self.lr_decay ** passed


# ---------------------------------------------------------------- checks


def _check_types(config: TrainConfig) -> None:
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, list | Mapping):  # direct construction with a list / dict: store tuples
            value = freeze(value)
            if f.name == "pretrained":
                value = tuple(TrainConfig.from_dict(dict(p)) if isinstance(p, tuple) else p for p in value)
            object.__setattr__(config, f.name, value)
        if not matches_type(value, hints[f.name]):
            raise TypeError(f"TrainConfig.{f.name} must be {describe_type(hints[f.name])}, got {value!r} "
                            f"({type(value).__name__})")
        if hints[f.name] is float and isinstance(value, int):
            object.__setattr__(config, f.name, float(value))  # 1 and 1.0 hash the same


def check_svd_rank(fraction: Any, absolute: Any, *, fraction_name: str = "svd_rank",
                   absolute_name: str = "svd_rank_abs") -> None:
    """One meaning per parameter: the fraction is a float in (0, 1] (an int, even 1, is refused: it
    would read as an absolute rank), the absolute rank an int >= 1; at most one of them is given."""
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, float):
            hint = (f"; for an absolute rank K={fraction} use {absolute_name}={fraction}"
                    if isinstance(fraction, int) else "")
            raise ValueError(f"{fraction_name} is a fraction of the channels, a float in (0, 1] "
                             f"(1.0 = full rank), got {fraction!r}{hint}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"{fraction_name} must be in (0, 1] (a fraction of the channels), got {fraction}")
    if absolute is not None and (isinstance(absolute, bool) or not isinstance(absolute, int) or absolute < 1):
        raise ValueError(f"{absolute_name} is an absolute rank K, an integer >= 1, got {absolute!r}")
    if fraction is not None and absolute is not None:
        raise ValueError(f"give {fraction_name} (a fraction) or {absolute_name} (a rank), not both")


def svd_rank_fields(rank: float | int | None) -> dict[str, float | int]:
    """The TrainConfig field for a rank given either way: an int is K (`svd_rank_abs`), a float a
    fraction of C (`svd_rank`), None neither (C/2)."""
    if rank is None:
        return {}
    return {"svd_rank_abs": rank} if isinstance(rank, int) and not isinstance(rank, bool) else {"svd_rank": rank}


def _check_svd_rank(config: TrainConfig) -> None:
    check_svd_rank(config.svd_rank, config.svd_rank_abs)
    if config.method != "svd" and config.svd_k is not None:
        raise ValueError(f"svd_rank / svd_rank_abs apply to method 'svd' only, not {config.method!r}")


__all__ = ["TrainConfig", "Runtime", "Profile", "PROFILES", "SPLITS", "get_profile", "profile_defaults",
           "paper_adapter_weight_decay", "check_svd_rank", "svd_rank_fields"]
