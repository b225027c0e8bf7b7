"""What a run is: its spec (`TrainConfig`), whose hash is its identity in the results store.

A run's spec holds everything that decides its result: method, domains, width, schedule, seed,
placement, the upstream runs it starts from (as specs, nested in `pretrained`) and the data by
its content identity (`data`: a digest of the cache manifests, never a path). The results store
finds a run by `TrainConfig.run_id`, the hash of the spec's stable JSON. Where things are and
how they run is the `Runtime` (runtime.py): moving the data or the store, or changing the
device, finds the same runs. Construction is strict: an unknown key, a value of the wrong type
or an unknown method / domain / profile is an error that lists the valid ones.

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
  classifier `weight_decay` (not the authors' rule).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paperlib.core.strict import describe_type, freeze, matches_type
from paperlib.data import DOMAINS
from paperlib.data.decathlon import split_parts
from paperlib.model.resnet import PLACEMENTS
from paperlib.model.roles import METHODS
from paperlib.train.identity import file_identity
from paperlib.train.profiles import PROFILES, profile_defaults

SPLITS = ("train", "val", "trainval", "test")


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


# The run identity rule: which fields enter a run's hash (`TrainConfig.to_json`, `run_id`), decided
# for each field when it is added, so that a new field never changes the ids of the runs stored
# before it (tests/test_run_identity.py fails on a field that is in neither table).
# - ALWAYS_HASHED: the fields the first stored runs had; their values are always in the hash.
# - ABSENT_BEFORE: each field added since -> the value every run had before the field existed;
#   while a run has that value, the field is left out of its hash, so the old runs keep their ids.
#   A new field goes here, with the value that reproduces what the code did without it.
ALWAYS_HASHED = frozenset({
    "method", "domains", "profile", "data", "width", "adapter", "placement", "dropout", "adapter_init", "epochs",
    "batch_size", "lr", "momentum", "milestones", "lr_decay", "schedule_epochs", "schedule_start", "weight_decay",
    "shared_weight_decay", "norm_head_decay", "adapter_weight_decay", "crop", "train_split", "eval_splits",
    "train_fraction", "class_fraction", "pretrained", "source_domain", "svd_rank", "svd_rank_abs", "svd_domains",
    "seed", "amp", "channels_last", "sync_bn", "train_limit_batches", "eval_limit_batches", "eval_batch_size"})
ABSENT_BEFORE = {"lora_rank": None, "data_seed": None, "cpu_bf16": False, "distill_weight": None,
                 "distill_temperature": None}


def undecided_fields(names: set[str]) -> tuple[set[str], set[str]]:
    """(fields in `names` that the identity rule does not place, rule entries that are no field):
    both empty when every field of a spec has its decision."""
    decided = ALWAYS_HASHED | set(ABSENT_BEFORE)
    return names - decided, decided - names


@dataclass(frozen=True)
class TrainConfig:
    """The spec of one training run: everything that decides its outcome (see the module
    docstring); `run_id` is its hash.

    Build it with `TrainConfig(...)`, `TrainConfig.for_profile("mini", ...)` or
    `TrainConfig.from_dict(d)` (strict: unknown keys and wrong types raise).
    """

    # what to train
    method: str = "parallel"  # one of roles.METHODS
    domains: tuple[str, ...] = ("cifar100",)  # several: trained together, batches alternate
    profile: str = "full"  # results go under results/<profile>/
    data: str = ""  # content identity of the data read (identity.data_identity); "": not bound yet
    # model (resnet.ModelConfig)
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
    lora_rank: int | None = None  # method lora: rank r of the peft LoRA on every 3x3 conv (paperlib.model.lora)
    # method parallel_distilled: the soft term's weight w and temperature T (train.distill)
    distill_weight: float | None = None
    distill_temperature: float | None = None
    # numerics
    seed: int = 0  # the new parameters' initialisation, shuffling, augmentation, dropout
    data_seed: int | None = None  # the class and image subsets (class_fraction, train_fraction); None: seed
    amp: bool = True  # bf16 autocast on CUDA
    cpu_bf16: bool = False  # bf16 autocast on the CPU (runtime.Runtime's docstring: where it pays)
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
        wanted = {"series": "series", "parallel": "parallel", "svd": "parallel",
                  "parallel_distilled": "parallel"}.get(self.method)
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
        distilled = self.method == "parallel_distilled"
        if distilled != (self.distill_weight is not None and self.distill_temperature is not None):
            raise ValueError("method 'parallel_distilled' and only it takes distill_weight and distill_temperature")
        if distilled and (len(self.pretrained) != 2 or len(self.domains) != 1):
            raise ValueError("method 'parallel_distilled' trains one domain from pretrained = (the source network, "
                             f"the domain's teacher), got {len(self.pretrained)} pretrained for {self.domains}")
        if distilled and (self.distill_weight < 0 or self.distill_temperature <= 0):
            raise ValueError(f"distill_weight must be >= 0 and distill_temperature > 0, got "
                             f"{self.distill_weight} and {self.distill_temperature}")
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
        for key, before in ABSENT_BEFORE.items():  # the run identity rule, above
            if values[key] == before:
                del values[key]
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """16 hex digits of the SHA-256 of the spec's stable JSON; an upstream weight file given
        by path counts by its content (identity.file_identity), never by where it is."""
        values = self.to_dict()
        values["pretrained"] = [p.run_id if isinstance(p, TrainConfig) else file_identity(p) for p in self.pretrained]
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def upstream(self) -> tuple["TrainConfig", ...]:
        """The runs this one starts from (its `pretrained` entries that are specs)."""
        return tuple(p for p in self.pretrained if isinstance(p, TrainConfig))

    @property
    def subset_seed(self) -> int:
        """The seed of the class and image subsets: `data_seed`, else `seed`."""
        return self.seed if self.data_seed is None else self.data_seed

    def autocast(self, device_type: str) -> bool:
        """Whether the run trains and evaluates under bf16 autocast on a `device_type` device."""
        return self.amp if device_type == "cuda" else self.cpu_bf16

    @property
    def data_splits(self) -> tuple[str, ...]:
        """The cache entries' splits this run reads (trainval is train + val at load time)."""
        return tuple(dict.fromkeys((*split_parts(self.train_split), *self.eval_splits)))

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
