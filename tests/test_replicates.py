"""Replicates of the whole pipeline: each replicate pretrains its own source networks and adapts
from them with its own seed, on the same images; replicate 0 keeps the ids the series always had."""

from __future__ import annotations

import pytest

from paperlib.data import prepare
from paperlib.data.tiny import write_tiny_tree
from paperlib.series.notebooks import NOTEBOOKS, notebook_plans
from paperlib.series.plans import pretraining_plan, table1_plan, transfer_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study
from paperlib.train.profiles import get_profile


def test_the_profiles_replicates():
    assert [get_profile(p).replicates for p in ("smoke", "mini", "full")] == [2, 3, 1]
    assert [r.run_seed for r in Study(profile="mini", seed=4).replicate_studies()] == [4, 5, 6]
    assert Study(profile="full", replicates=3).replicate_count == 3
    with pytest.raises(ValueError, match="replicates"):
        Study(replicates=0)
    with pytest.raises(ValueError, match="replicate must be"):
        Study(profile="smoke", replicate=2)


def _scratch_upstream(config):
    for u in config.upstream:
        yield from ([u] if u.method == "scratch" else [])
        yield from _scratch_upstream(u)


def test_every_run_is_planned_once_per_replicate_from_its_own_sources():
    study = Study(profile="smoke", seed=3)
    for notebook in NOTEBOOKS:
        for part, plan in notebook_plans(study, notebook).items():
            if not plan:
                continue
            assert {labels["replicate"] for labels, _ in plan} == {0, 1}, (notebook, part)
            for labels, c in plan:
                assert c.seed == study.seed + labels["replicate"] and c.subset_seed == study.seed  # the same images
                sources = list(_scratch_upstream(c))
                assert all(s.seed == c.seed and s.subset_seed == study.seed for s in sources), (notebook, part)


def test_replicates_are_distinct_runs_and_the_first_keeps_its_id():
    study = Study(profile="mini")
    plan = transfer_plan(study, domains=["ucf101"], fractions=[0.1], methods=["parallel"])
    (l0, c0), (l1, c1), (l2, c2) = plan
    assert [l0["replicate"], l1["replicate"], l2["replicate"]] == [0, 1, 2]
    assert len({c0.run_id, c1.run_id, c2.run_id}) == 3
    assert c0.data_seed is None and c1.data_seed == c2.data_seed == 0  # replicate 0's spec (and id) as before
    assert len({c.pretrained[0].run_id for c in (c0, c1, c2)}) == 3  # each from its own source network
    sources = pretraining_plan(study, width_factors=(1.0,), class_fractions=(1.0,))
    assert [c.seed for _, c in sources] == [0, 0, 1, 1, 2, 2]  # plain and series, per replicate


@pytest.mark.slow
def test_two_replicates_give_distinct_source_networks_and_results(tmp_path):
    root = tmp_path / "data"
    write_tiny_tree(root, domains=("imagenet12", "dtd"), classes=3, per_class=(8, 2, 2), size=(40, 40))
    prepare(root, root / "cache-40", ("imagenet12", "dtd"), ("train", "val", "test"), size=40, workers=1)
    study = Study(profile="smoke", data_root=str(root), results_dir=str(tmp_path / "results"), workers=1)
    plan = table1_plan(study, ["Parallel Res. adapt."], ["dtd"])
    frame = run_all(study, plan, progress=None)
    assert list(frame["replicate"]) == [0, 1] and frame["run_id"].nunique() == 2
    sources = [study.bind(c.pretrained[0]) for _, c in plan]
    assert sources[0].run_id != sources[1].run_id
    source_weights = [study.store.weights_path(s).read_bytes() for s in sources]
    assert source_weights[0] != source_weights[1]  # two source networks, not one
    records = [study.store.load(study.bind(c)) for _, c in plan]
    assert records[0]["history"][0]["loss"] != records[1]["history"][0]["loss"]
