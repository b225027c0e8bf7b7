"""The Decathlon results file: [{"image_id", "category_id"}], category id = index * 10**7 + label + 1,
the ten domains in one file; written from stored predictions and round-tripped through the checker."""

import json

import numpy as np
import pytest
import torch

from paperlib.data import DOMAINS, read_split, write_submission
from paperlib.data.cli import main as data_main
from paperlib.data.dryrun import write_real_format_tree
from paperlib.data.submission import check_submission
from paperlib.report.submissions import row_predictions, submission_name, write_row_submissions
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore


def test_write_submission(tmp_path):
    path = tmp_path / "out" / "results.json"
    write_submission(path, {"vgg-flowers": ([100000003], [101]),  # index 10: ids have 9 digits
                            "imagenet12": (torch.tensor([60000001, 60000007]), np.array([0, 999]))})
    assert json.loads(path.read_text()) == [{"image_id": 60000001, "category_id": 60000001},
                                            {"image_id": 60000007, "category_id": 60001000},
                                            {"image_id": 100000003, "category_id": 100000102}]
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left


def test_write_submission_rejects_bad_input(tmp_path):
    for bad in ({"svhn": ([1, 2], [0])}, {"svhn": ([1], [-1])}, {"mnist": ([1], [0])}):
        with pytest.raises(ValueError):
            write_submission(tmp_path / "r.json", bad)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_real_format_tree(tmp_path_factory.mktemp("tree"), per_split=3, source_covers_classes=False,
                                  test_labels=False)


def _predictions(root, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for d in DOMAINS:
        test = read_split(root, d, "test")
        out[d] = (test.image_ids, rng.integers(0, test.num_classes, len(test)))
    return out


def test_submission_round_trips_through_the_checker(root, tmp_path, capsys):
    predictions = _predictions(root)
    path = write_submission(tmp_path / "results.json", predictions)
    report = check_submission(path, root)
    assert report.ok and report.expected == report.predicted == {d: 3 for d in DOMAINS}
    entries = {e["image_id"]: e["category_id"] for e in json.loads(path.read_text())}
    for d, (ids, labels) in predictions.items():  # the file gives back the predicted labels
        prefix = (DOMAINS.index(d) + 1) * 10**7
        assert [entries[i] - prefix - 1 for i in ids.tolist()] == labels.tolist()
    assert data_main(["check-submission", str(path), "--root", str(root)]) == 0
    assert "OK:" in capsys.readouterr().out


def _rewrite(path, edit):
    entries = json.loads(path.read_text())
    path.write_text(json.dumps(edit(entries)))


@pytest.mark.parametrize("edit, expected", [
    (lambda e: e[1:], "aircraft: 1 test image(s) without a prediction"),
    (lambda e: e + [e[-1]], "vgg-flowers: 1 image id(s) predicted more than once"),
    (lambda e: e + [{"image_id": 10000999, "category_id": 10000001}], "aircraft: 1 image id(s) that are not test"),
    (lambda e: [dict(e[0], category_id=10000101)] + e[1:],
     "aircraft: 1 prediction(s) with a category id outside 10000001..10000100"),
    (lambda e: e + [{"image_id": 990000001, "category_id": 1}], "1 image id(s) of no domain"),
])
def test_checker_finds_each_problem(root, tmp_path, capsys, edit, expected):
    path = write_submission(tmp_path / "results.json", _predictions(root))
    _rewrite(path, edit)
    report = check_submission(path, root)
    assert len(report.problems) == 1 and report.problems[0].startswith(expected)
    assert data_main(["check-submission", str(path), "--root", str(root)]) == 1
    assert expected in capsys.readouterr().out


def test_checker_wants_every_domain_unless_told(root, tmp_path):
    path = write_submission(tmp_path / "r.json", {"dtd": _predictions(root)["dtd"]})
    assert check_submission(path, root, ["dtd"]).ok
    problems = check_submission(path, root).problems
    assert len(problems) == 9 and all("without a prediction" in p for p in problems)


@pytest.mark.parametrize("content", ["{not json", '{"image_id": 1}', '[{"image_id": 1, "category_id": "2"}]'])
def test_malformed_submission_is_one_line_and_exit_2(root, tmp_path, capsys, content):
    path = tmp_path / "r.json"
    path.write_text(content)
    assert data_main(["check-submission", str(path), "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err


def test_row_submissions_from_stored_predictions(root, tmp_path):
    """A row = the trainings that predict its domains; the file holds their test predictions."""
    store, predictions = ResultStore(tmp_path / "results"), _predictions(root)
    pre = TrainConfig(method="scratch", domains=("imagenet12",), eval_splits=("val", "test"))
    configs = [pre] + [TrainConfig(method="parallel", domains=(d,), train_split="trainval", eval_splits=("test",))
                       for d in DOMAINS if d != "imagenet12"]
    for c in configs:
        store.save_predictions(c, {d: {"test": tuple(torch.as_tensor(x) for x in predictions[d])} for d in c.domains})
    out = tmp_path / "runs" / "full" / "submissions"
    paths = write_row_submissions(store, {"Parallel Res. adapt.": configs}, out)
    assert paths == {"Parallel Res. adapt.": out / "parallel-res-adapt.json"}
    assert check_submission(paths["Parallel Res. adapt."], root).ok
    assert json.loads(paths["Parallel Res. adapt."].read_text()) == json.loads(
        write_submission(tmp_path / "direct.json", predictions).read_text())
    with pytest.raises(Exception, match="no val predictions"):
        row_predictions(store, configs[1:2], split="val")
    assert submission_name("Parallel (early)") == "parallel-early.json"
