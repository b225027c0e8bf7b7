"""svd_rank means one thing: a fraction of C, a float in (0, 1]; svd_rank_abs is K itself."""

from __future__ import annotations

import pytest

from paperlib.series.params import SVDParams
from paperlib.train.spec import TrainConfig, svd_rank_fields

SVD = dict(method="svd", pretrained=("a.safetensors",))


def test_integer_fraction_is_refused_in_the_config():
    with pytest.raises(ValueError, match=r"svd_rank is a fraction .*got 1; for an absolute rank K=1 use "
                                         r"svd_rank_abs=1"):
        TrainConfig(**SVD, svd_rank=1)
    with pytest.raises(ValueError, match=r"svd_rank must be in \(0, 1\]"):
        TrainConfig(**SVD, svd_rank=1.5)
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(**SVD, svd_rank=0.5, svd_rank_abs=4)
    with pytest.raises(ValueError, match="integer >= 1"):
        TrainConfig(**SVD, svd_rank_abs=0)
    with pytest.raises(ValueError, match="method 'svd' only"):
        TrainConfig(svd_rank=0.5)
    assert TrainConfig(**SVD, svd_rank=1.0).svd_k == 1.0 and isinstance(TrainConfig(**SVD, svd_rank=1.0).svd_k, float)
    assert TrainConfig(**SVD, svd_rank_abs=1).svd_k == 1 and TrainConfig(**SVD).svd_k is None
    config = TrainConfig(**SVD, svd_rank=0.25)
    assert TrainConfig.from_dict(config.to_dict()) == config  # survives the record's JSON


def test_integer_fraction_is_refused_in_the_notebook_parameters():
    with pytest.raises(ValueError, match="svd_rank is a fraction .*svd_rank_abs=1"):
        SVDParams.from_dict({"svd_rank": 1})
    assert SVDParams.from_dict({"svd_rank": 1.0}).rank == 1.0
    assert SVDParams.from_dict({"svd_rank_abs": 8}).rank == 8
    assert SVDParams.from_dict({}).rank is None


def test_rank_given_either_way_lands_in_its_own_field():
    assert svd_rank_fields(8) == {"svd_rank_abs": 8}
    assert svd_rank_fields(0.5) == {"svd_rank": 0.5}
    assert svd_rank_fields(None) == {}
