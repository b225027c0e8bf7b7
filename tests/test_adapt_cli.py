"""`paperlib export-base`, `adapt` and `predict` end to end on a tiny generated ImageFolder, the
ImageFolder reader, and the commands' refusals (one line naming the file, exit 2, nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from paperlib.cli import main
from paperlib.core.errors import DataError
from paperlib.model.adapter_files import BASE_FORMAT, file_header, shared_sha256
from paperlib.model.resnet import ResNet26
from paperlib.model.weights import save_model
from paperlib.portable.base import export_base, load_base
from paperlib.portable.imagefolder import read_image_folder, stratified_holdout
from paperlib.portable.predict import Prediction, same_predictions
from paperlib.series.plans import pretrain_config
from paperlib.series.study import Study

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 230)}


def image_folder(root, per_class=6, size=20, bad=()):
    """One folder per colour class of noisy PNGs (a class a tiny network learns in a few steps)."""
    rng = np.random.default_rng(0)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (size, size + 4, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    for path in bad:
        (root / path).write_bytes(b"not an image at all")
    return root


@pytest.fixture
def base(tmp_path):
    torch.manual_seed(0)
    model = ResNet26.build([("imagenet12", 5)], width=0.125)
    path = tmp_path / "base.safetensors"
    export_base(model.eval(), path, image_size=16, crop=16, source_domain="imagenet12")
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_refusal(code, err, name):
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(name) in lines[0], err


# ---------------------------------------------------------------- the image folder


def test_image_folder_skips_and_reports_unreadable_images(tmp_path):
    root = image_folder(tmp_path / "imgs", bad=("red/broken.png",))
    data = read_image_folder(root, "colours", size=16)
    assert data.class_names == ["blue", "green", "red"]
    assert [p for p, _ in data.skipped] == [str(root / "red" / "broken.png")]
    assert len(data.train) + len(data.val) == 18 and data.train.images.shape[1:] == (3, 16, 16)
    # every class in both splits, seeded
    assert set(data.val.labels.tolist()) == {0, 1, 2} == set(data.train.labels.tolist())
    assert torch.equal(read_image_folder(root, "colours", size=16).val.images, data.val.images)


def test_a_class_folder_without_a_readable_image_is_an_error(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "empty").mkdir()
    (root / "empty" / "x.jpg").write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match=f"{root / 'empty'}: no readable image"):
        read_image_folder(root, "colours", size=16)


def test_explicit_train_and_val_folders(tmp_path):
    image_folder(tmp_path / "imgs" / "train", per_class=3)
    image_folder(tmp_path / "imgs" / "val", per_class=2)
    data = read_image_folder(tmp_path / "imgs", "colours", size=16)
    assert (len(data.train), len(data.val)) == (9, 6)
    (tmp_path / "imgs" / "val" / "purple").mkdir()
    with pytest.raises(DataError, match="purple"):
        read_image_folder(tmp_path / "imgs", "colours", size=16)


def test_stratified_holdout_keeps_a_training_image_per_class():
    held = stratified_holdout([0] * 10 + [1] * 2 + [2], 0.2, seed=3)
    assert sum(held[:10]) == 2 and sum(held[10:12]) == 1 and held[12] is False


# ---------------------------------------------------------------- adapt and predict


def test_adapt_then_predict_end_to_end(tmp_path, base, capsys):
    images = image_folder(tmp_path / "imgs", bad=("green/broken.png",))
    out = tmp_path / "colours.safetensors"
    code, text, err = run(capsys, "adapt", "--base", str(base), "--images", str(images), "--domain", "colours",
                          "--out", str(out), "--epochs", "3", "--batch-size", "8", "--device", "cpu")
    assert code == 0, err
    assert "skipped unreadable image" in text and "broken.png" in text
    assert "size: adapter" in text and "vs base" in text
    header = file_header(out)
    assert header["class_names"] == ["blue", "green", "red"] and header["domain"] == "colours"
    assert header["training"]["epochs"] == 3 and f"val accuracy {header['val_accuracy']:.1f}%" in text
    correct = header["val_accuracy"] * header["training"]["val_images"] / 100  # a percentage of the val images
    assert header["training"]["val_images"] > 0 and correct == pytest.approx(round(correct))
    assert header["image_size"] == 16 and header["crop"] == 16 and len(header["mean"]) == 3
    assert not (tmp_path / "colours.safetensors.ckpt").exists()  # the engine's checkpoint is gone once done
    # the shared weights did not move: the adapter loads into the base it came from
    network, _ = load_base(base, adapter="parallel")
    assert network.load_adapter(out) == "colours"

    pics = [str(images / c / "0.png") for c in ("red", "blue")]
    code, text, err = run(capsys, "predict", "--base", str(base), "--adapter", str(out), "--topk", "2", *pics)
    assert code == 0, err
    lines = text.strip().splitlines()
    assert len(lines) == 2
    for line, pic in zip(lines, pics):
        path, domain, pairs = line.split("\t")
        names, probs = pairs.split()[::2], [float(p) for p in pairs.split()[1::2]]
        assert path == pic and domain == "colours" and set(names) <= set(COLOURS)
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    code, fused, err = run(capsys, "predict", "--base", str(base), "--adapter", str(out), "--fuse", "--topk", "2", *pics)
    assert code == 0, err
    assert same_predictions([_prediction(a) for a in lines], [_prediction(b) for b in fused.strip().splitlines()],
                            tolerance=2e-3)  # probabilities equal up to rounding


def _prediction(line: str) -> Prediction:
    """A line of `paperlib predict` read back."""
    path, domain, pairs = line.split("\t")
    items = pairs.split()
    return Prediction(path, domain, tuple(items[::2]), tuple(float(p) for p in items[1::2]))


def test_same_predictions_allows_a_near_tie_to_swap_but_not_another_class():
    a = [Prediction("x.png", "d", ("cat", "dog"), (0.45, 0.45 - 1e-6))]
    swapped = [Prediction("x.png", "d", ("dog", "cat"), (0.45, 0.45 - 2e-6))]
    other = [Prediction("x.png", "d", ("cow", "cat"), (0.45, 0.4))]
    assert same_predictions(a, a) and same_predictions(a, swapped)
    assert not same_predictions(a, other)
    assert not same_predictions(a, [Prediction("x.png", "d", ("cat", "dog"), (0.5, 0.4))])


def test_predict_reports_an_unreadable_image_and_goes_on(tmp_path, base, capsys):
    model, _ = load_base(base, adapter="parallel")
    model.add_domain("mine", 2)
    adapter = tmp_path / "mine.safetensors"
    model.save_adapter("mine", adapter, info={"image_size": 16, "crop": 16, "mean": [0.5] * 3, "std": [0.25] * 3})
    good = image_folder(tmp_path / "imgs", per_class=1) / "red" / "0.png"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    code, text, err = run(capsys, "predict", "--base", str(base), "--adapter", str(adapter), str(good), str(bad))
    assert code == 1 and len(text.strip().splitlines()) == 1 and str(bad) in err and "Traceback" not in err


def test_predict_names_every_missing_file(tmp_path, base, capsys):
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16)).save(image)
    nowhere, gone = tmp_path / "nonexistent.safetensors", tmp_path / "gone.safetensors"
    code, out, err = run(capsys, "predict", "--base", str(nowhere), str(image))  # no --adapter either
    one_line_refusal(code, err, f"no base file {nowhere}")
    assert "no --adapter given" in err and out == ""
    code, _, err = run(capsys, "predict", "--base", str(nowhere), "--adapter", str(gone), str(image))
    one_line_refusal(code, err, f"no base file {nowhere}; no adapter file {gone}")
    code, _, err = run(capsys, "predict", "--base", str(base), "--adapter", str(gone), "--adapter", str(nowhere),
                       str(image))
    one_line_refusal(code, err, f"no adapter file {gone}; no adapter file {nowhere}")
    assert "base file" not in err


@pytest.mark.parametrize("damage", ["truncate", "other_base", "not_adapter"])
def test_predict_refuses_bad_adapter_files_in_one_line(tmp_path, base, capsys, damage):
    model, _ = load_base(base, adapter="parallel")
    model.add_domain("mine", 2)
    adapter = tmp_path / "mine.safetensors"
    model.save_adapter("mine", adapter, info={"image_size": 16, "crop": 16, "mean": [0.5] * 3, "std": [0.25] * 3})
    if damage == "truncate":
        adapter.write_bytes(adapter.read_bytes()[:100])
    elif damage == "not_adapter":
        adapter = base
    else:
        torch.manual_seed(5)
        other = tmp_path / "other.safetensors"
        export_base(ResNet26.build([("imagenet12", 5)], width=0.125).eval(), other, image_size=16, crop=16,
                    source_domain="imagenet12")
        base = other
    pic = image_folder(tmp_path / "imgs", per_class=1) / "red" / "0.png"
    code, _, err = run(capsys, "predict", "--base", str(base), "--adapter", str(adapter), str(pic))
    one_line_refusal(code, err, adapter)


def test_adapt_refusals_write_nothing(tmp_path, base, capsys):
    images = image_folder(tmp_path / "imgs")
    (images / "empty").mkdir()
    out = tmp_path / "out.safetensors"
    code, _, err = run(capsys, "adapt", "--base", str(base), "--images", str(images), "--domain", "x", "--out", str(out))
    one_line_refusal(code, err, images / "empty")
    (images / "empty").rmdir()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(base.read_bytes()[:1000])
    code, _, err = run(capsys, "adapt", "--base", str(cut), "--images", str(images), "--domain", "x", "--out", str(out))
    one_line_refusal(code, err, cut)
    code, _, err = run(capsys, "adapt", "--base", str(base), "--images", str(images), "--domain", "imagenet12",
                       "--out", str(out))
    one_line_refusal(code, err, "imagenet12")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.safetensors", "cut.safetensors", "imgs"]


# ---------------------------------------------------------------- export-base


def test_export_base_from_the_results_store(tmp_path, capsys, monkeypatch):
    # data of its own (never prepared): the checkout's data/smoke, if prepared, would bind the spec
    study = Study(profile="smoke", results_dir=str(tmp_path / "results"), data_root=str(tmp_path / "data"))
    config = pretrain_config(study)
    out = tmp_path / "base.safetensors"
    where = ("--profile", "smoke", "--results", study.results_dir, "--data-root", study.data_root)
    # the refusal tells a missing data tree, unprepared data and a missing network apart
    code, _, err = run(capsys, "export-base", *where, "--out", str(out))
    one_line_refusal(code, err, f"no data tree at {study.root}: pass --data-root as given to the series")
    (study.root / "decathlon-1.0").mkdir(parents=True)
    code, _, err = run(capsys, "export-base", *where, "--out", str(out))
    one_line_refusal(code, err, f"the data tree at {study.root} is not prepared")
    with monkeypatch.context() as m:  # as if prepared, the network not trained
        m.setattr(Study, "prepared", lambda self: True)
        m.setattr(Study, "bind", lambda self, c: c)
        code, _, err = run(capsys, "export-base", *where, "--out", str(out))
    one_line_refusal(code, err, study.store.weights_path(config))
    assert "no pretrained network of profile 'smoke'" in err and "train it first" in err
    assert not out.exists()

    model = ResNet26.build([("imagenet12", 10)], width=config.width)
    save_model(study.store.weights_path(config), model, config)
    code, text, err = run(capsys, "export-base", *where, "--out", str(out))
    assert code == 0, err
    assert "sha256" in text
    header = file_header(out, kind=BASE_FORMAT)
    assert header["width"] == config.width and header["crop"] == study.settings.crop
    assert header["image_size"] == study.settings.image_size and header["run_id"] == config.run_id
    loaded, _ = load_base(out)
    assert header["base_sha256"] == shared_sha256(model) == shared_sha256(loaded)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x, "imagenet12"), model.eval()(x, "imagenet12"))


def test_adapt_resumes_from_the_engines_checkpoint(tmp_path, base, monkeypatch):
    from paperlib.portable.adapt import AdaptSettings, adapt

    images = image_folder(tmp_path / "imgs", per_class=4)
    out = tmp_path / "colours.safetensors"
    settings = AdaptSettings(epochs=2, batch_size=4, device="cpu")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the run were killed after its last epoch, before writing

    with monkeypatch.context() as m:
        m.setattr(ResNet26, "save_adapter", killed)
        with pytest.raises(KeyboardInterrupt):
            adapt(base, images, "colours", out, settings)
    assert (tmp_path / "colours.safetensors.ckpt").is_file() and not out.exists()
    summary = adapt(base, images, "colours", out, settings)
    assert summary["resumed_from_epoch"] == 2 and len(summary["history"]) == 2
    assert out.is_file() and not (tmp_path / "colours.safetensors.ckpt").exists()
