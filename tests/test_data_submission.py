"""The Decathlon results file: [{"image_id", "category_id"}], category id = index * 10**7 + label + 1."""

import json

import numpy as np
import pytest
import torch

from paperlib.data import write_submission


def test_write_submission(tmp_path):
    path = tmp_path / "out" / "results.json"
    write_submission(path, torch.tensor([60000001, 60000007]), np.array([0, 999]), "imagenet12")
    assert json.loads(path.read_text()) == [{"image_id": 60000001, "category_id": 60000001},
                                            {"image_id": 60000007, "category_id": 60001000}]
    write_submission(path, [100000003], [101], "vgg-flowers")  # index 10: ids have 9 digits
    assert json.loads(path.read_text()) == [{"image_id": 100000003, "category_id": 100000102}]
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left


def test_write_submission_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        write_submission(tmp_path / "r.json", [1, 2], [0], "svhn")
    with pytest.raises(ValueError):
        write_submission(tmp_path / "r.json", [1], [-1], "svhn")
    with pytest.raises(ValueError):
        write_submission(tmp_path / "r.json", [1], [0], "mnist")
