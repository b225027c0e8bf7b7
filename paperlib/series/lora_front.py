"""The accuracy-parameters front (not in the paper): parallel adapters, their joint SVD at three
ranks and LoRA-conv (peft) at three ranks, on the three transfer domains, with each point's size.

Sizes are Table 1's "#par": the ten-domain network (imagenet12 and the nine targets, every domain
with its adapter) over the plain network of the source, measured on modules built at the run's
width and class counts (`report.table1.size_column`). The class counts are the profile's own (the
MiniDecathlon's table at smoke / mini, the Decathlon's at full): they are known without reading
the data, so a plan stays a pure function of the study. They cannot change a rank (heads and
BNs are the same in every network compared; tests/test_lora.py).

The front, on the three transfer domains (ucf101, cifar100, svhn):
- parallel adapters, K = C (the Table 1 runs);
- joint SVD of the parallel adapters at K = C/4, C/2, 3C/4 (sec. 3.4; `plans.svd_plan`,
  C/2 as rank None: the "Parallel SVD" runs themselves);
- LoRA at the largest ranks within the budgets of SVD K = C/4, SVD K = C/2 and the parallel
  adapters (`lora_budget.rank_for_size`): each LoRA point has a partner of equal or larger size.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from paperlib.data.domains import SOURCE, TARGETS
from paperlib.model.compress import compress_jointly
from paperlib.model.lora_budget import rank_for_size
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import multi_domain_size, plain_reference
from paperlib.series.plans import adapt_config, per_replicate, pretrain_config, svd_plan, table1_plan
from paperlib.series.study import Study
from paperlib.train.profiles import profile_classes
from paperlib.train.spec import TrainConfig

LORA_ROW = "LoRA-conv (peft)"


PARALLEL_ROW = "Parallel Res. adapt."


SVD_FRACTIONS = (0.25, None, 0.75)  # K = C/4, C/2 (None: the paper's default, the existing runs), 3C/4


SVD_NAMES = {0.25: "C/4", None: "C/2", 0.75: "3C/4"}


def ten_domains(classes: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """(name, classes) of the source and the nine targets: the networks Table 1's "#par" measures."""
    return tuple((d, classes[d]) for d in (SOURCE, *TARGETS))


@functools.lru_cache(maxsize=8)
def _budgets(width: float, domains: tuple[tuple[str, int], ...]) -> dict[str, tuple[float, int | None]]:
    """name -> (size multiplier, LoRA rank or None) of every point of the front, measured on
    modules built on the meta device (their shapes only)."""
    from paperlib.model.lora import apply_lora  # peft (and transformers): seconds to import

    reference = multi_domain_size(plain_reference(width, dict(domains)[SOURCE]))
    row = lora_budget(width, dict(domains))
    out: dict[str, tuple[float, int | None]] = {"parallel K = C": (row.parallel_multiplier, None)}
    svd_sizes = {}
    with torch.device("meta"):
        for fraction in SVD_FRACTIONS:
            parallel = ResNet26.build(list(domains), width=width, adapter="parallel")
            svd_sizes[fraction] = multi_domain_size(compress_jointly(parallel, rank=fraction, inplace=True)[0])
            out[f"SVD K = {SVD_NAMES[fraction]}"] = (svd_sizes[fraction] / reference, None)
        bare = ResNet26.build(list(domains), width=width)
        for r in (rank_for_size(bare, svd_sizes[0.25]), rank_for_size(bare, svd_sizes[None]), row.rank):
            size = multi_domain_size(apply_lora(ResNet26.build(list(domains), width=width), r))
            out[f"LoRA r = {r}"] = (size / reference, r)
    return out


def lora_budget(width: float, classes: dict[str, int]):
    """`lora.parallel_matched_rank` for the ten domains at `width`: the Table 1 row's r and its
    multiplier measured on a network peft adapted."""
    return _row_budget(width, ten_domains(classes))


@functools.lru_cache(maxsize=8)
def _row_budget(width: float, domains: tuple[tuple[str, int], ...]):
    from paperlib.model.lora import parallel_matched_rank  # peft (and transformers): seconds to import

    return parallel_matched_rank(list(domains), width=width)


def front_budgets(study: Study) -> dict[str, tuple[float, int | None]]:
    """Every point of the front: name -> (size multiplier, LoRA rank or None)."""
    return _budgets(study.settings.width, ten_domains(profile_classes(study.settings)))


def front_plan(study: Study, targets: Sequence[str] | None = None) -> list[tuple[dict, TrainConfig]]:
    """The front's runs on `targets` (default: the profile's transfer domains): parallel, SVD at
    three K, LoRA at three ranks; labels: family, point (its name), size_x (the multiplier)."""
    targets = list(targets or study.settings.transfer_domains)
    budgets = front_budgets(study)
    labels = lambda name, family: {"family": family, "point": name, "size_x": budgets[name][0]}  # noqa: E731
    plan = [({**labels("parallel K = C", "parallel"), "replicate": tags["replicate"]}, c)
            for tags, c in table1_plan(study, [PARALLEL_ROW], targets)]
    for fraction in SVD_FRACTIONS:
        name = f"SVD K = {SVD_NAMES[fraction]}"
        # the joint SVD is over every target's adapters, as in Table 1; kept here: the front's domains
        plan += [({**labels(name, "svd"), "replicate": tags["replicate"]}, c) for tags, c in svd_plan(study, rank=fraction)
                 if c.domains[0] in targets]
    loras = [(name, rank) for name, (_, rank) in budgets.items() if rank is not None]
    plan += per_replicate(study, lambda rs: [(labels(name, "lora"), adapt_config(rs, "lora", d, pretrain_config(rs),
                                                                                 lora_rank=rank))
                                             for name, rank in loras for d in targets])
    return plan
