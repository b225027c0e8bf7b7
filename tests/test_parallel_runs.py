"""Trainings side by side (paperlib.parallel_runs): the same records as the serial path."""

import dataclasses
import hashlib

import pytest

from paperlib.series.cost import estimated_flops
from paperlib.series.params import Params
from paperlib.series.plans import svd_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study, prepare_data
from paperlib.series.workers import Slot, critical_path_order, missing_runs, plan_slots, side_by_side, study_slots
from paperlib.train.profiles import get_profile
from paperlib.train.store import ResultStore


def _plan(study):
    """Pretraining, two parallel adapters and their joint SVD: five runs, three levels deep."""
    return svd_plan(study, targets=["dtd", "svhn"])


def _comparable(study, config):
    """What must not depend on how many workers trained the run: metrics, per-epoch losses and
    accuracies (not their seconds), parameter counts, and the weights file's bytes."""
    record = study.store.load(config)
    history = [{k: v for k, v in entry.items() if k != "seconds"} for entry in record["history"]]
    weights = hashlib.sha256(study.store.weights_path(config).read_bytes()).hexdigest()
    return record["run_id"], record["metrics"], history, record["parameters"], weights


def test_two_workers_store_the_records_of_the_serial_path(tmp_path, monkeypatch):
    monkeypatch.setattr("paperlib.series.workers.usable_cores", lambda: 2)  # one thread a worker, as the serial path here
    data = str(tmp_path / "data")
    serial = Study(replicates=1, profile="smoke", data_root=data, results_dir=str(tmp_path / "serial"), device="cpu", workers=1)
    side = Study(replicates=1, profile="smoke", data_root=data, results_dir=str(tmp_path / "side"), device="cpu", workers=2)
    expected = run_all(serial, _plan(serial), progress=None)
    messages = []
    got = run_all(side, _plan(side), progress=messages.append)

    assert list(got["run_id"]) == list(expected["run_id"])
    columns = sorted(set(expected.columns) - {"wall_time_s"})  # a loaded record's metrics come key-sorted
    assert got[columns].equals(expected[columns])
    every_run = list(missing_runs(ResultStore(tmp_path / "empty"), [side.bind(c) for _, c in _plan(side)]).values())
    assert len(every_run) == 5
    for config in every_run:
        assert _comparable(side, config) == _comparable(serial, config)
    # one line when a run starts and one when it is done, numbered against all five
    assert sum("started" in m for m in messages) == 5 and sum("done" in m for m in messages) == 5
    assert all(m.startswith("[") and "/5]" in m for m in messages)
    # stored now: a second call trains nothing
    assert run_all(side, _plan(side), progress=messages.append)["run_id"].tolist() == list(got["run_id"])
    assert len(messages) == 10


def test_missing_runs_lists_upstream_runs_first_and_once(tmp_path):
    study = Study(replicates=1, profile="smoke", results_dir=str(tmp_path))
    plan = [c for _, c in _plan(study)]
    order = list(missing_runs(study.store, plan).values())
    assert len(order) == len({c.run_id for c in order}) == 5
    assert order[0].method == "scratch"
    position = {c.run_id: i for i, c in enumerate(order)}
    for config in order:
        assert all(position[source.run_id] < position[config.run_id] for source in config.upstream)


def test_the_longest_chain_of_work_starts_first_and_upstream_runs_stay_first(tmp_path):
    study = Study(replicates=1, profile="smoke", results_dir=str(tmp_path))
    runs = missing_runs(study.store, [c for _, c in _plan(study)])  # scratch -> parallel x 2 -> svd
    ids = list(runs)
    cost = {ids[0]: 10.0, ids[1]: 1.0, ids[2]: 5.0}
    cost.update({r: 2.0 for r in ids[3:]})
    order = list(critical_path_order(runs, lambda c: cost[c.run_id]))
    assert order[0] == ids[0]  # everything waits for the pretraining
    assert order.index(ids[2]) < order.index(ids[1])  # the costlier adapter run before the cheaper
    position = {r: i for i, r in enumerate(order)}
    for run_id in order:
        assert all(position[u.run_id] < position[run_id] for u in runs[run_id].upstream if u.run_id in runs)
    # equal costs keep plan order
    assert list(critical_path_order({r: runs[r] for r in ids[1:3]}, lambda c: 1.0)) == ids[1:3]


def test_a_run_costs_its_training_flops(tmp_path):
    study = Study(replicates=1, profile="smoke", data_root=str(tmp_path / "data"), results_dir=str(tmp_path / "r"))
    prepare_data(study, domains=["imagenet12", "dtd", "svhn"])
    runs = list(missing_runs(study.store, [study.bind(c) for _, c in _plan(study)]).values())
    costs = [estimated_flops(c, study.runtime.data_dir) for c in runs]
    assert all(c > 0 for c in costs)
    wider = estimated_flops(dataclasses.replace(runs[0], width=2 * runs[0].width), study.runtime.data_dir)
    assert 3 < wider / costs[0] < 5  # FLOPs grow with the square of the width


def test_slots_follow_the_machine():
    """plan_slots: every usable core trains one small run at mini, bounded by memory; one run with
    every core otherwise on a CPU; one run per GPU (or `runs_per_gpu`) on CUDA."""
    mini, smoke, full = (get_profile(name) for name in ("mini", "smoke", "full"))
    big = 64 * 2**30
    assert plan_slots(mini, "cpu", cores=2, memory=big, gpus=0) == (Slot("cpu", 2, 1),)
    assert plan_slots(mini, "auto", cores=16, memory=big, gpus=0) == (Slot("cpu", 16, 1),)
    # 8 GiB hold (8 - 1.5) / 1.5 = 4 workers (WORKER_MEMORY, KERNEL_MEMORY): the cores go to their threads
    assert plan_slots(mini, "cpu", cores=16, memory=8 * 2**30, gpus=0) == (Slot("cpu", 4, 4),)
    assert plan_slots(mini, "cpu", cores=16, memory=2**30, gpus=0) == (Slot("cpu", 1, 16),)
    assert plan_slots(smoke, "cpu", cores=16, memory=big, gpus=0) == (Slot("cpu", 1, 16),)
    assert plan_slots(full, "cpu", cores=16, memory=big, gpus=8) == (Slot("cpu", 1, 16),)
    assert plan_slots(get_profile("mini", dry_run=True), "cpu", cores=16, memory=big, gpus=0) == (Slot("cpu", 1, 16),)
    assert plan_slots(full, "auto", cores=16, memory=big, gpus=8) == tuple(Slot(f"cuda:{i}", 1, 2) for i in range(8))
    assert plan_slots(mini, "cuda", cores=16, gpus=2, runs_per_gpu=3) == (Slot("cuda:0", 3, 2), Slot("cuda:1", 3, 2))
    assert plan_slots(mini, "cuda:1", cores=16, gpus=2) == (Slot("cuda:1", 1, 16),)
    assert plan_slots(full, "cuda", workers=3, cores=12, gpus=2) == (Slot("cuda:0", 2, 4), Slot("cuda:1", 1, 4))
    assert plan_slots(mini, "cpu", workers=3, cores=16, memory=big, gpus=0) == (Slot("cpu", 3, 5),)


def test_workers_are_runtime_not_spec():
    one, two = Study(profile="smoke", workers=1), Study(profile="smoke", workers=2)
    assert [c.run_id for _, c in _plan(one)] == [c.run_id for _, c in _plan(two)]
    assert side_by_side(study_slots(Params.from_dict({"workers": 3}).study)) == 3
    with pytest.raises(ValueError, match="workers"):
        Study(workers=0)
