"""`paperlib reproduce --plan`: the images each training sees from the profile's own data, every
training including the upstream ones, and the expected time from a stated rate."""

import re
from pathlib import Path

import pytest
import torch

from paperlib.core.files import write_json
from paperlib.data.facts import decathlon_counts
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import count_macs
from paperlib.series.cost import training_flops_per_image, training_images
from paperlib.series.estimate import Rate, cpu_bench_rate, format_duration, gpu_bench_rate, planned_runs, totals
from paperlib.series.notebooks import series_plan, series_trainings
from paperlib.series.study import Study
from paperlib.train.profiles import get_profile

SHEET = Path(__file__).resolve().parents[1] / "data" / "README.md"


def sheet_counts() -> dict[str, tuple[int, int]]:
    """domain -> (classes, training images) as the data sheet's table shows the generated tree."""
    rows = re.findall(r"^\| ([a-z0-9-]+) \| [^|]+ \| [^|]+ \| (\d+) \| (\d+) / \d+ / \d+ \|", SHEET.read_text(), re.M)
    return {domain: (int(classes), int(train)) for domain, classes, train in rows}


@pytest.fixture(scope="module")
def mini_trainings():
    return series_trainings(Study(profile="mini"))


def test_the_data_sheet_table_is_read():
    assert set(sheet_counts()) == set(decathlon_counts())


def test_mini_images_are_the_data_sheets_counts_times_the_epochs(mini_trainings):
    sheet, s = sheet_counts(), get_profile("mini")
    configs = [c for _, _, c in mini_trainings]
    main_source = next(c for c in configs if c.method == "scratch" and c.width == s.width and c.adapter is None
                       and c.class_fraction == c.train_fraction == 1.0)
    assert training_images(main_source) == sheet["imagenet12"][1] * s.pretrain_epochs
    quarter = next(c for c in configs if c.method == "scratch" and c.class_fraction == 0.25)
    assert training_images(quarter) == sheet["imagenet12"][1] // 4 * s.pretrain_epochs  # 64 of 256 classes
    adaptation = next(c for c in configs
                      if c.method == "parallel" and c.domains == ("dtd",) and c.train_fraction == 1.0)
    assert training_images(adaptation) == sheet["dtd"][1] * s.adapt_epochs
    whole = lambda c: (sheet[c.domains[0]][1] / sheet[c.domains[0]][0] * c.train_fraction).is_integer()  # noqa: E731
    transfer = [c for n, _, c in mini_trainings if n == "06_transfer" and c.train_fraction < 1.0 and whole(c)]
    assert {c.train_fraction for c in transfer} >= {0.1, 0.5}  # a whole number of images per class
    for c in transfer:
        assert training_images(c) == sheet[c.domains[0]][1] * c.train_fraction * c.epochs


def test_full_images_are_the_decathlons_published_counts():
    source = next(c for _, _, c in series_trainings(Study(profile="full")) if c.method == "scratch")
    assert training_images(source) == decathlon_counts()["imagenet12"]["train"] * source.epochs


def test_every_upstream_run_is_listed_once_before_the_runs_that_start_from_it(mini_trainings):
    ids = [c.run_id for _, _, c in mini_trainings]
    assert len(ids) == len(set(ids))
    position = {run_id: i for i, run_id in enumerate(ids)}
    for i, (_, _, config) in enumerate(mini_trainings):
        assert all(position[source.run_id] < i for source in config.upstream)
    planned = {c.run_id for _, _, c in series_plan(Study(profile="mini"))}
    upstream = [c for _, labels, c in mini_trainings if labels.get("upstream")]
    assert planned <= set(ids) and upstream  # the plan leaves some upstream runs out; the trainings do not
    assert {c.run_id for c in upstream} == set(ids) - planned


def test_flops_per_image_grow_with_the_crops_area_as_counted():
    model = ResNet26.build([("imagenet12", 1000)], width=0.25, adapter="parallel", placement="late")
    counted = 6 * count_macs(model, torch.zeros(1, 3, 40, 40), domain="imagenet12")["total"]
    assert training_flops_per_image(0.25, 40, adapter="parallel", placement="late") == counted


def test_the_times_are_the_flops_over_the_rate_and_the_totals_add_up(mini_trainings):
    runs = planned_runs(mini_trainings[:40])
    rate = Rate({"finetune": 1e9, "parallel_fused": 2e9}, side_by_side=2, source="constructed")
    table = totals(runs, {"cpu": rate})
    expected = sum(r.flops / (2e9 if r.config.method in ("parallel", "svd") else 1e9) / 2 for r in runs
                   if r.config.method in ("scratch", "finetune", "parallel", "svd"))
    others = sum(rate.seconds(r.config.method, r.flops) for r in runs
                 if r.config.method not in ("scratch", "finetune", "parallel", "svd"))
    assert table["all"].seconds["cpu"] == pytest.approx(expected + others)
    notebooks = [v for k, v in table.items() if k != "all"]
    assert sum(t.trainings for t in notebooks) == table["all"].trainings == len(runs)
    assert sum(t.images for t in notebooks) == table["all"].images
    assert sum(t.flops for t in notebooks) == pytest.approx(table["all"].flops)
    assert sum(t.seconds["cpu"] for t in notebooks) == pytest.approx(table["all"].seconds["cpu"])


def test_a_rate_says_so_when_it_cannot_time_anything():
    with pytest.raises(ValueError, match="finetune"):
        Rate({"series": 1e9}, side_by_side=1, source="x")
    assert Rate({"finetune": 1e12}, 3, "x").seconds("series", 6e15) == pytest.approx(2000.0)  # unmeasured: finetune's
    assert [format_duration(s) for s in (27, 14 * 60, 3.2 * 3600)] == ["27 s", "14 min", "3.2 h"]


def bench_file(path, *, device, processor, setting, batch, images_per_s=100.0, run_threads=2):
    s = get_profile(setting)
    train = {m: {"train_flops_per_image": 1e9, "train_flop_s": images_per_s * 1e9} for m in ("finetune", "series")}
    entry = {"setting": {"name": setting, "image": s.image_size, "crop": s.crop, "width": s.width},
             "train": {"batch": batch, **train},
             "cpu_variants": {"batch": batch, "run_threads": run_threads,
                              "finetune/threads1+channels_last": {"images_per_s": images_per_s / 2},
                              "finetune/channels_last": {"images_per_s": images_per_s}}}
    write_json(path, {"machine": {"device": device, "processor": processor, "device_name": "a GPU"},
                      "settings": {setting: entry}})
    return path


def test_the_cpu_bench_counts_only_for_its_processor_setting_and_threads(tmp_path):
    path = bench_file(tmp_path / "cpu.json", device="cpu", processor="Chip 9", setting="mini", batch=64)
    one = cpu_bench_rate(path, get_profile("mini"), processor="Chip 9", threads=1, side_by_side=2)
    assert one.flop_s["finetune"] == 50e9 and one.side_by_side == 2 and "cpu.json" in one.source
    two = cpu_bench_rate(path, get_profile("mini"), processor="Chip 9", threads=2, side_by_side=1)
    assert two.flop_s["finetune"] == 100e9
    assert cpu_bench_rate(path, get_profile("mini"), processor="Chip 9", threads=3, side_by_side=1) is None
    assert cpu_bench_rate(path, get_profile("mini"), processor="Other", threads=1, side_by_side=2) is None
    assert cpu_bench_rate(path, get_profile("full"), processor="Chip 9", threads=1, side_by_side=2) is None


def test_the_gpu_rate_is_the_bench_nearest_the_profiles_batch_and_says_which(tmp_path):
    bench_file(tmp_path / "g512.json", device="cuda", processor="x", setting="full", batch=512, images_per_s=200.0)
    bench_file(tmp_path / "g256.json", device="cuda", processor="x", setting="full", batch=256)
    bench_file(tmp_path / "cpu.json", device="cpu", processor="x", setting="full", batch=128, images_per_s=1.0)
    full = gpu_bench_rate(tmp_path, get_profile("full"))  # batch 128: 256 is nearer
    assert full.flop_s["finetune"] == 100e9 and "g256.json" in full.source and "lower bound" not in full.source
    assert "lower bound" in gpu_bench_rate(tmp_path, get_profile("mini")).source  # measured at full only
    assert gpu_bench_rate(tmp_path / "none", get_profile("full")) is None
