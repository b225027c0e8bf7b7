"""TrainConfig: strict construction, stable identity, profiles, the paper's schedule and decays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperlib.series.study import Study
from paperlib.train.profiles import PROFILES, get_profile, profile_defaults
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig, paper_adapter_weight_decay


def test_defaults_are_the_authors():
    c = TrainConfig()
    assert (c.lr, c.momentum, c.batch_size, c.epochs) == (0.1, 0.9, 128, 120)
    assert c.milestone_epochs() == [80, 100] and c.lr_decay == 0.1
    assert TrainConfig(epochs=12).milestone_epochs() == [8, 10]  # scaled to the profile's epochs
    assert c.adapter == "parallel"  # "auto" resolved from the method


@pytest.mark.parametrize("domain, decay", [("aircraft", 0.002), ("dtd", 0.002), ("vgg-flowers", 0.002),
                                           ("omniglot", 0.0005), ("daimlerpedcls", 0.0005), ("ucf101", 0.0005),
                                           ("cifar100", 0.0001), ("gtsrb", 0.0001), ("svhn", 0.0001),
                                           ("imagenet12", 0.0001)])
def test_adapter_weight_decay_of_the_paper(domain, decay):
    assert TrainConfig().adapter_decay(domain) == decay
    assert TrainConfig(adapter_weight_decay={domain: 0.5}).adapter_decay(domain) == 0.5
    assert set(paper_adapter_weight_decay()) == set(__import__("paperlib.data", fromlist=["DOMAINS"]).DOMAINS)


def test_round_trip_and_stable_id():
    c = TrainConfig.for_profile("mini", method="series", domains=["dtd", "svhn"], adapter_weight_decay={"dtd": 0.01})
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.run_id == c.run_id and len(c.run_id) == 16
    assert c.to_json() == again.to_json() and json.loads(c.to_json()) == c.to_dict()
    assert c.replace(seed=1).run_id != c.run_id
    assert TrainConfig(lr=1).run_id == TrainConfig(lr=1.0).run_id  # ints are stored as floats
    assert c.domains == ("dtd", "svhn") and isinstance(c.adapter_weight_decay, tuple)


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown TrainConfig key\(s\) \['learning_rate'\]; valid keys: method, "):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(TypeError):
        TrainConfig(learning_rate=0.1)


@pytest.mark.parametrize("key, value", [("epochs", 1.5), ("epochs", "10"), ("lr", "0.1"), ("amp", 1),
                                        ("domains", "cifar100"), ("width", None), ("milestones", [0.5, "x"]),
                                        ("pretrained", [1])])
def test_wrong_types_are_errors(key, value):
    with pytest.raises(TypeError, match=f"TrainConfig.{key} must be"):
        TrainConfig.from_dict({key: value})


@pytest.mark.parametrize("changes, message", [
    ({"method": "dora"}, "unknown method 'dora'; valid methods: scratch, finetune, head, bn, series, parallel, svd, lora"),
    ({"domains": ["cifar10"]}, "unknown domain 'cifar10'; valid domains: aircraft, cifar100,"),
    ({"source_domain": "imagenet"}, "unknown domain 'imagenet'; valid domains:"),
    ({"profile": "huge"}, "unknown profile 'huge'; valid profiles: smoke, mini, full"),
    ({"placement": "middle"}, "unknown placement 'middle'; valid placements: all, early, mid, late, half"),
    ({"train_split": "training"}, "unknown split 'training'; valid splits: train, val, trainval, test"),
    ({"method": "series", "adapter": "parallel"}, "method 'series' needs adapter 'series'"),
    ({"method": "svd"}, "method 'svd' compresses trained parallel adapters"),
    ({"train_fraction": 0.0}, "train_fraction must be in"),
    ({"milestones": [0.9, 0.5]}, "milestones must be increasing"),
    ({"device": "cpu"}, "unknown TrainConfig key(s) ['device']"),  # the runtime's, not the spec's
    ({"domains": []}, "domains is empty"),
])
def test_bad_values_say_what_is_valid(changes, message):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(changes)
    assert message in str(err.value)


def test_profiles():
    assert PROFILES == ("smoke", "mini", "full")
    full = TrainConfig.for_profile("full")
    assert full == TrainConfig(crop=64)  # the dataclass defaults are the paper's, i.e. the full profile
    mini = TrainConfig.for_profile("mini", epochs=3)
    assert mini.profile == "mini" and mini.epochs == 3 and mini.width == profile_defaults("mini")["width"]
    with pytest.raises(ValueError, match="valid profiles: smoke, mini, full"):
        TrainConfig.for_profile("tiny")


def test_one_profile_table_sizes_configs_runtimes_and_the_series():
    for name in PROFILES:
        p = get_profile(name)
        config = TrainConfig.for_profile(name)
        assert (config.epochs, config.width, config.batch_size, config.crop) == (
            p.adapt_epochs, p.width, p.batch_size, p.crop)
        assert config.train_limit_batches == config.eval_limit_batches == p.limit_batches
        # the notebooks' data folder: for a generated MiniDecathlon, the generation of the seed in it
        assert Path(Runtime.for_profile(name).data_dir).resolve() == Study(profile=name).cache_dir.resolve()
    dry = get_profile("full", dry_run=True)
    assert (dry.image_size, dry.width, dry.adapt_epochs, dry.limit_batches, dry.batch_size) == (72, 1.0, 1, 2, 2)


def test_the_runtime_is_not_part_of_the_identity(tmp_path):
    upstream = TrainConfig(method="scratch", domains=("imagenet12",))
    config = TrainConfig(method="parallel", domains=("dtd",), pretrained=(upstream,))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.upstream == (upstream,)
    assert config.run_id != config.replace(pretrained=(upstream.replace(seed=1),)).run_id  # upstream is identity
    # a weight file given by path counts by its content, wherever it is
    a, b = tmp_path / "a.safetensors", tmp_path / "sub" / "b.safetensors"
    b.parent.mkdir()
    a.write_bytes(b"same weights")
    b.write_bytes(b"same weights")
    by_path = lambda p: TrainConfig(method="bn", domains=("dtd",), pretrained=(str(p),)).run_id  # noqa: E731
    assert by_path(a) == by_path(b)
    b.write_bytes(b"other weights")
    assert by_path(a) != by_path(b)
