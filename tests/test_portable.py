"""Adapters as files (portable.py, models.save_adapter / load_adapter / forward_mixed): round trip,
mixed-domain batches, and every refusal, on tiny networks whose adapters are moved off their init
(an identity adapter would make a round trip prove nothing)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save as st_save

from paperlib.model.adapter_files import (
    ADAPTER_FORMAT,
    FORMAT_VERSION,
    AdapterFileError,
    domain_state,
    file_header,
    read_file,
    shared_sha256,
    write_file,
)
from paperlib.model.resnet import ResNet26
from paperlib.portable.base import export_base, load_base
from paperlib.train.spec import TrainConfig

WIDTH = 0.125


def make_base(tmp_path, seed=0, name="base.safetensors"):
    torch.manual_seed(seed)
    model = ResNet26.build([("imagenet12", 5)], width=WIDTH)
    path = tmp_path / name
    export_base(model.eval(), path, image_size=16, crop=16, source_domain="imagenet12")
    return path


def adapted(base, domain="mine", classes=4, adapter="parallel", seed=1):
    """The base with one more domain whose adapters, BNs (incl. running stats) and head are random."""
    model, _ = load_base(base, adapter=adapter)
    model.add_domain(domain, classes)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in domain_state(model, domain).values():
            if tensor.is_floating_point():
                tensor.copy_(tensor + 0.1 * torch.randn(tensor.shape, generator=gen).abs())
    return model.eval()


@pytest.mark.parametrize("adapter", ["parallel", "series"])
def test_save_load_round_trip_is_bit_identical(tmp_path, adapter):
    base = make_base(tmp_path)
    model = adapted(base, adapter=adapter)
    path = tmp_path / "mine.safetensors"
    model.save_adapter("mine", path, info={"class_names": ["a", "b", "c", "d"], "val_accuracy": 50.0})
    fresh, _ = load_base(base, adapter=adapter)
    assert fresh.load_adapter(path) == "mine"
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(fresh.eval()(x, "mine"), model(x, "mine"))
    assert torch.equal(fresh(x, "imagenet12"), model(x, "imagenet12"))
    assert fresh.adapter_info["mine"]["class_names"] == ["a", "b", "c", "d"]
    # only the domain's own tensors are in the file: far smaller than the base
    assert path.stat().st_size < base.stat().st_size / 2
    tensors, header = read_file(path, kind=ADAPTER_FORMAT)
    assert all(".@." in k for k in tensors) and header["adapter"] == adapter
    assert header["base_sha256"] == shared_sha256(fresh)


def test_load_under_another_name_and_save_again_keeps_the_header(tmp_path):
    base = make_base(tmp_path)
    path = tmp_path / "mine.safetensors"
    adapted(base).save_adapter("mine", path, info={"class_names": list("wxyz"), "crop": 16})
    fresh, _ = load_base(base, adapter="parallel")
    fresh.load_adapter(path, domain="yours")
    fresh.save_adapter("yours", tmp_path / "yours.safetensors")
    header = file_header(tmp_path / "yours.safetensors")
    assert header["domain"] == "yours" and header["class_names"] == list("wxyz") and header["crop"] == 16


def test_mixed_batch_equals_per_image_calls(tmp_path):
    base = make_base(tmp_path)
    model = adapted(base, "a", classes=3)
    model.add_domain("b", 7)
    model.eval().set_domain("b")
    x = torch.randn(6, 3, 16, 16)
    names = ["a", "imagenet12", "b", "a", "b", "imagenet12"]
    mixed = model(x, domain=names)
    assert mixed.shape == (6, 7)
    for i, d in enumerate(names):
        single = model(x[i:i + 1], d)[0]
        n = single.shape[0]
        assert torch.allclose(mixed[i, :n], single, atol=1e-5, rtol=1e-5)
        assert torch.isneginf(mixed[i, n:]).all()
        assert mixed[i].softmax(0)[:n].sum().item() == pytest.approx(1.0, abs=1e-5)
    model.set_domain("b")(x, domain=names)
    assert model.classifier.active_domain == "b"  # a mixed batch leaves the active domain alone
    with pytest.raises(ValueError, match="6 images"):
        model(x, domain=["a"])
    with pytest.raises(KeyError, match="unknown domain 'zz'"):
        model(x, domain=["zz"] * 6)


# ---------------------------------------------------------------- refusals


@pytest.fixture
def saved(tmp_path):
    base = make_base(tmp_path)
    path = tmp_path / "mine.safetensors"
    adapted(base).save_adapter("mine", path)
    return base, path


def refused(base, path, match, adapter="parallel", **kwargs):
    model, _ = load_base(base, adapter=adapter)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(AdapterFileError, match=match) as err:
        model.load_adapter(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    # nothing changed in the network
    assert list(model.domains) == ["imagenet12"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_refuses_an_adapter_of_another_base(tmp_path, saved):
    _, path = saved
    other = make_base(tmp_path, seed=7, name="other.safetensors")
    refused(other, path, "another base network")


def test_refuses_truncated_and_corrupt_files(tmp_path, saved):
    base, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    refused(base, cut, "truncated or corrupt")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    refused(base, garbage, "truncated or corrupt")
    refused(base, tmp_path / "missing.safetensors", "cannot read")


def test_refuses_a_safetensors_file_that_is_not_an_adapter(tmp_path, saved):
    base, _ = saved
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(st_save({"w": torch.zeros(2)}))
    refused(base, plain, "without paperlib's header, not an adapter")
    refused(base, base, "'paperlib-base' file, not an adapter")


def test_refuses_tensors_of_the_wrong_shape(tmp_path, saved):
    base, path = saved
    tensors, header = read_file(path, kind=ADAPTER_FORMAT)
    key = next(k for k in tensors if k.endswith("adapters.@.weight"))
    tensors[key] = torch.zeros(1, 1, 1, 1)
    bad = tmp_path / "bad.safetensors"
    write_file(bad, tensors, header, kind=ADAPTER_FORMAT)
    refused(base, bad, f"tensor {key} has shape")


def test_refuses_a_domain_already_present_and_another_kind(saved):
    base, path = saved
    refused(base, path, "'imagenet12' is already in this network", domain="imagenet12")
    refused(base, path, "parallel adapters at 'all', but this network has series", adapter="series")


def test_a_failed_write_leaves_no_file(tmp_path, saved):
    base, _ = saved
    model = adapted(base)
    out = tmp_path / "never.safetensors"
    with pytest.raises(ValueError, match="class names"):
        model.save_adapter("mine", out, info={"class_names": ["only one"]})
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_config_accepts_a_users_domain_only_with_its_decay():
    config = TrainConfig(domains=("my-flowers",), adapter_weight_decay=(("my-flowers", 0.001),))
    assert config.adapter_decay("my-flowers") == 0.001
    with pytest.raises(ValueError, match="unknown domain 'my-flowers'"):
        TrainConfig(domains=("my-flowers",))
    with pytest.raises(ValueError, match="unknown domain 'typo'"):
        TrainConfig(domains=("cifar100",), adapter_weight_decay=(("typo", 0.001),))


def test_header_values_are_json(saved):
    _, path = saved
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "paperlib-adapter" and meta["format_version"] == str(FORMAT_VERSION)
    assert json.loads(meta["class_names"]) == ["0", "1", "2", "3"]
