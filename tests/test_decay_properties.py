"""Weight decay per parameter (train.decay) against an independent walk of the authors' SGD.

docs/authors_code.md, "Weight decay in the authors' code": their `sgd.py` starts every parameter
loop at `--wd` and overwrites the decay whenever it meets a 4-d tensor (the 3x3 decay for a 3x3
kernel, the domain's 1x1 decay for an adapter kernel) and never resets it, so each BN and
classifier takes the decay of the last 4-d tensor trained before it. `reference_decays` walks the
parameters that way, written here without decay.py's code; the groups SGD receives must give
every parameter that decay, under the group name the docstring of `param_groups` promises.
"""

from __future__ import annotations

import pytest
import torch

from paperlib.model.roles import parameter_roles, set_trainable
from paperlib.train.build import build_model
from paperlib.train.decay import param_groups
from paperlib.train.spec import TrainConfig


def _model(**fields):
    config = TrainConfig(width=0.125, profile="smoke", **fields)
    model = build_model(config, {d: 3 for d in config.domains})
    names = set()
    for d in config.domains:
        names |= set(set_trainable(model, config.method, d))
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    return config, model


def reference_decays(config: TrainConfig, model) -> dict[str, float]:
    """name -> decay of every trainable parameter, by the authors' walk (module docstring), run
    once per domain as their one-domain runs do. Placements early / mid / late are not in their
    code: there the design gives a BN before the domain's first adapter the adapter decay."""
    roles = parameter_roles(model)
    shared = config.weight_decay if config.shared_weight_decay is None else config.shared_weight_decay
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    out: dict[str, float] = {}
    for domain in config.domains:
        has_adapters = any(roles[n] == ("adapter", domain) for n, _ in trainable)
        current = (config.adapter_decay(domain) if has_adapters and config.placement not in ("all", "half")
                   else config.weight_decay)
        for name, p in trainable:
            role, d = roles[name]
            if role == "shared":
                out[name] = shared
                if p.dim() == 4:
                    current = shared
            elif d != domain:
                continue
            elif role == "adapter":
                out[name] = config.adapter_decay(domain)
                if p.dim() == 4:
                    current = out[name]
            else:  # a BN or the head
                out[name] = current if config.norm_head_decay == "authors" else config.weight_decay
    return out


def _by_name(groups: list[dict]) -> dict[str, tuple[float, str]]:
    out = {}
    for g in groups:
        assert len(g["params"]) == len(g["names"])
        for name in g["names"]:
            assert name not in out, f"{name} in two groups"
            out[name] = (g["weight_decay"], g["group"])
    return out


CASES = [
    dict(method="scratch", domains=("cifar100",)),
    dict(method="scratch", domains=("dtd",), shared_weight_decay=None),  # the 3x3 decay falls back to --wd
    dict(method="finetune", domains=("aircraft",), adapter="parallel", shared_weight_decay=3e-4),
    dict(method="bn", domains=("dtd", "omniglot")),
    dict(method="bn", domains=("aircraft",), placement="early"),
    dict(method="head", domains=("svhn",)),
    dict(method="series", domains=("aircraft", "cifar100")),
    dict(method="parallel", domains=("dtd", "ucf101")),
    dict(method="parallel", domains=("aircraft",), placement="half"),
    dict(method="series", domains=("vgg-flowers",), placement="half"),  # the stem BN1 first: --wd
    dict(method="parallel", domains=("aircraft", "gtsrb"), placement="mid"),
    dict(method="series", domains=("dtd",), placement="early"),
    dict(method="parallel", domains=("omniglot",), placement="late"),
    dict(method="parallel", domains=("dtd",), norm_head_decay="weight_decay"),
    dict(method="finetune", domains=("cifar100",), norm_head_decay="weight_decay", weight_decay=2e-4),
]


@pytest.mark.parametrize("fields", CASES, ids=lambda f: "-".join(str(v) for v in f.values()))
def test_every_parameter_gets_the_authors_decay_in_the_named_group(fields):
    """Each trainable parameter is in exactly one SGD group, whose decay is the authors' walk's
    (3x3 kernels: shared_weight_decay or --wd; adapters: the paper's per-domain decay, sec. 4.1;
    BNs and heads: the last 4-d tensor before them) and whose name says what it is."""
    config, model = _model(**fields)
    roles = parameter_roles(model)
    got = _by_name(param_groups(model, config))
    expected = reference_decays(config, model)
    assert set(got) == {n for n, p in model.named_parameters() if p.requires_grad} == set(expected)
    for name, (decay, group) in got.items():
        assert decay == pytest.approx(expected[name], rel=1e-12), (name, group)
        role, d = roles[name]
        if role == "adapter":
            assert group == f"adapter:{d}"
        elif role == "shared":
            assert group == "shared"
        elif config.norm_head_decay == "weight_decay":
            assert group == "other"
        else:
            assert group.startswith(f"norm_head:{d}")
            assert group == f"norm_head:{d}" or group == f"norm_head:{d}:{decay:g}"


def test_bn_and_head_decays_follow_what_trains():
    """The docstring's summary, spelled out: scratch gives BNs and heads the 3x3 decay, bn gives
    them --wd, an adapter run the domain's adapter decay (the series stem BN1 aside), and with
    norm_head_decay="weight_decay" all of them --wd in one group "other"."""
    def norm_head(fields):
        config, model = _model(**fields)
        roles = parameter_roles(model)
        return {dec for n, (dec, _) in _by_name(param_groups(model, config)).items()
                if roles[n][0] in ("norm", "head")}

    assert norm_head(dict(method="scratch", domains=("dtd",))) == {1e-4}
    assert norm_head(dict(method="scratch", domains=("dtd",), shared_weight_decay=None)) == {5e-4}
    assert norm_head(dict(method="finetune", domains=("dtd",), shared_weight_decay=7e-4)) == {7e-4}
    assert norm_head(dict(method="bn", domains=("dtd",))) == {5e-4}
    assert norm_head(dict(method="bn", domains=("dtd",), placement="late")) == {5e-4}
    assert norm_head(dict(method="parallel", domains=("dtd",))) == {0.002}
    assert norm_head(dict(method="parallel", domains=("dtd",), placement="early")) == {0.002}
    assert norm_head(dict(method="parallel", domains=("dtd",), placement="half")) == {0.002}  # the stem is adapted
    assert norm_head(dict(method="series", domains=("dtd",), placement="half")) == {5e-4, 0.002}  # its BN1: --wd
    config, model = _model(method="scratch", domains=("dtd",), norm_head_decay="weight_decay", weight_decay=3e-4)
    groups = {g["group"]: g for g in param_groups(model, config)}
    assert set(groups) == {"shared", "other"} and groups["other"]["weight_decay"] == 3e-4
    assert groups["shared"]["weight_decay"] == 1e-4


def test_nothing_to_train_is_an_error_naming_the_method():
    config, model = _model(method="bn", domains=("dtd",))
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="method 'bn' leaves nothing to train"):
        param_groups(model, config)


def test_the_groups_step_with_their_own_decay():
    """One plain SGD step (no gradient, no momentum) shrinks each parameter by lr x its decay:
    the group dicts carry the decay torch applies, not just a label."""
    config, model = _model(method="parallel", domains=("aircraft",))
    optimizer = torch.optim.SGD(param_groups(model, config), lr=0.5, momentum=0.0)
    expected = reference_decays(config, model)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.detach(), before[n] * (1 - 0.5 * expected[n]))
