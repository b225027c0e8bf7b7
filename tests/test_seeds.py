"""Seeds of the adaptations: every adaptation a table, figure or claim uses trains once per seed,
from the same source networks and on the same images; each seed is its own run with its own
result."""

from __future__ import annotations

import pytest

from paperlib.data import prepare
from paperlib.data.tiny import write_tiny_tree
from paperlib.series.notebooks import NOTEBOOKS, notebook_plans
from paperlib.series.plans import table1_plan, transfer_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study
from paperlib.train.profiles import get_profile


def test_the_profiles_seeds():
    assert [get_profile(p).seeds for p in ("smoke", "mini", "full")] == [2, 3, 1]
    assert Study(profile="mini", seed=4).adaptation_seeds == (4, 5, 6)
    assert Study(profile="full", seeds=3).adaptation_seeds == (0, 1, 2)
    with pytest.raises(ValueError, match="seeds"):
        Study(seeds=0)


def test_every_adaptation_is_planned_once_per_seed_from_the_same_sources():
    study = Study(profile="smoke", cpu_bf16=False)
    for notebook in NOTEBOOKS:
        for part, plan in notebook_plans(study, notebook).items():
            adaptations = [(labels, c) for labels, c in plan if c.method != "scratch"]
            if not adaptations:
                continue
            assert {labels["seed"] for labels, _ in adaptations} == {0, 1}, (notebook, part)
            for labels, c in adaptations:
                assert c.seed == labels["seed"] and c.subset_seed == study.seed  # the same images
                assert all(u.seed == study.seed or (part == "source_seed" and u.method == "scratch")
                           for u in c.upstream if u.method == "scratch")


def test_seeds_are_distinct_runs_and_the_first_keeps_its_id():
    study = Study(profile="mini", cpu_bf16=False)
    plan = transfer_plan(study, domains=["ucf101"], fractions=[0.1], methods=["parallel"])
    (l0, c0), (l1, c1), (l2, c2) = plan
    assert [l0["seed"], l1["seed"], l2["seed"]] == [0, 1, 2]
    assert len({c0.run_id, c1.run_id, c2.run_id}) == 3
    assert c0.data_seed is None and c1.data_seed == c2.data_seed == 0  # seed 0's spec (and id) as before seeds
    assert c0.pretrained == c1.pretrained == c2.pretrained


@pytest.mark.slow
def test_two_seeds_train_two_results(tmp_path):
    root = tmp_path / "data"
    write_tiny_tree(root, domains=("imagenet12", "dtd"), classes=3, per_class=(8, 2, 2), size=(40, 40))
    prepare(root, root / "cache-40", ("imagenet12", "dtd"), ("train", "val", "test"), size=40, workers=1)
    study = Study(profile="smoke", data_root=str(root), results_dir=str(tmp_path / "results"), cpu_bf16=False,
                  workers=1)
    frame = run_all(study, table1_plan(study, ["Parallel Res. adapt."], ["dtd"]), progress=None)
    assert list(frame["seed"]) == [0, 1] and frame["run_id"].nunique() == 2
    weights = [study.store.weights_path(study.bind(c)) for _, c in table1_plan(study, ["Parallel Res. adapt."], ["dtd"])]
    a, b = (open(p, "rb").read() for p in weights)
    assert a != b  # other initial adapters, other order, other augmentation
    records = [study.store.load(study.bind(c)) for _, c in table1_plan(study, ["Parallel Res. adapt."], ["dtd"])]
    assert records[0]["history"][0]["loss"] != records[1]["history"][0]["loss"]
