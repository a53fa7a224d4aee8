"""XGBoost adapter: features are fed by NAME in the booster's own stored order."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from consumer.errors import ModelLoadError
from consumer.models.formats import sniff_xgboost
from consumer.models.xgb import XGBoostModel, feature_permutation
from schemas.events import FEATURE_NAMES

N_FEATURES = len(FEATURE_NAMES)


def _canonical_matrix(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def _train(
    stored_order: list[str],
    *,
    trees: int = 12,
    objective: str = "binary:logistic",
    names: list[str] | None = None,
) -> xgb.Booster:
    """A tiny booster whose columns (and stored feature_names) follow ``stored_order``."""
    x = _canonical_matrix(1)
    cols = [FEATURE_NAMES.index(n) for n in stored_order]
    signal = np.nan_to_num(x[:, 0] + 2 * x[:, 4] - x[:, 20] + 0.5 * x[:, 33])
    y = (signal > 0).astype(np.float32)
    data = xgb.DMatrix(x[:, cols], label=y, feature_names=names or stored_order, missing=np.nan)
    params = {"objective": objective, "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0}
    return xgb.train(params, data, num_boost_round=trees)


def _shuffled_names(seed: int = 7) -> list[str]:
    order = list(FEATURE_NAMES)
    np.random.default_rng(seed).shuffle(order)
    assert order != list(FEATURE_NAMES)
    return order


@pytest.mark.parametrize("shuffle", [False, True], ids=["canonical", "shuffled"])
def test_matrix_by_name_scores_like_the_booster_in_its_own_order(shuffle: bool) -> None:
    stored = _shuffled_names() if shuffle else list(FEATURE_NAMES)
    booster = _train(stored)
    model = XGBoostModel(booster, name="depression", version="t", nthread=1)
    x = _canonical_matrix(2)
    own_order = x[:, [FEATURE_NAMES.index(n) for n in stored]]
    expected = booster.inplace_predict(own_order, missing=np.nan)
    got = model.predict_batch(x)
    assert got.dtype == np.float64 and got.shape == (x.shape[0],)
    np.testing.assert_array_equal(got, expected.astype(np.float64))
    assert model.booster_feature_names == tuple(stored)


def test_feeding_the_wrong_order_gives_different_scores() -> None:
    """The order bug is real for this booster, so the test above can fail."""
    stored = _shuffled_names()
    booster = _train(stored)
    x = _canonical_matrix(3)
    right = XGBoostModel(booster, name="mania", version="t", nthread=1).predict_batch(x)
    wrong = booster.inplace_predict(x, missing=np.nan, validate_features=False)
    assert np.max(np.abs(right - wrong)) > 0.1


def test_roundtrip_json_and_ubj_keep_names_and_scores(tmp_path: Path) -> None:
    booster = _train(_shuffled_names())
    x = _canonical_matrix(4)
    reference = XGBoostModel(booster, name="mania", version="t", nthread=1).predict_batch(x)
    for fmt in ("json", "ubj"):
        path = tmp_path / f"m.{fmt}"
        path.write_bytes(bytes(booster.save_raw(fmt)))
        model = XGBoostModel.from_file(path, name="mania", version="t", nthread=1)
        np.testing.assert_array_equal(model.predict_batch(x), reference)
        assert model.trees == 12


def test_permutation_reports_missing_and_unknown_names() -> None:
    names = list(FEATURE_NAMES)
    names[3] = "ST_short_Mean"
    with pytest.raises(ModelLoadError) as err:
        feature_permutation(names, source="m.ubj")
    message = str(err.value)
    assert "missing ST_short_MN" in message and "unknown ST_short_Mean" in message
    assert "\n" not in message


def test_booster_without_feature_names_is_refused() -> None:
    booster = _train(list(FEATURE_NAMES))
    booster.feature_names = None
    with pytest.raises(ModelLoadError, match="no feature_names"):
        XGBoostModel(booster, name="mania", version="t", nthread=1)


def test_booster_with_generic_names_is_refused() -> None:
    generic = [f"f{i}" for i in range(N_FEATURES)]
    booster = _train(list(FEATURE_NAMES), names=generic)
    with pytest.raises(ModelLoadError, match="differ from the 36 contract names"):
        XGBoostModel(booster, name="mania", version="t", nthread=1)


def test_non_probability_objective_is_refused() -> None:
    booster = _train(list(FEATURE_NAMES), objective="binary:logitraw")
    with pytest.raises(ModelLoadError, match="binary:logistic"):
        XGBoostModel(booster, name="mania", version="t", nthread=1)


def test_wrong_shape_raises_value_error_and_empty_batch_is_empty() -> None:
    model = XGBoostModel(_train(list(FEATURE_NAMES)), name="m", version="t", nthread=1)
    with pytest.raises(ValueError, match=r"\(n, 36\)"):
        model.predict_batch(np.zeros((2, 35), dtype=np.float32))
    assert model.predict_batch(np.zeros((0, N_FEATURES), dtype=np.float32)).shape == (0,)
    model.warmup()


def test_sniffing_refuses_pickles_and_mismatched_suffixes() -> None:
    booster = _train(list(FEATURE_NAMES), trees=2)
    json_bytes, ubj_bytes = bytes(booster.save_raw("json")), bytes(booster.save_raw("ubj"))
    assert sniff_xgboost(Path("a.json"), json_bytes) == "json"
    assert sniff_xgboost(Path("a.ubj"), ubj_bytes) == "ubj"
    with pytest.raises(ModelLoadError, match="pickle"):
        sniff_xgboost(Path("a.json"), pickle.dumps({"x": 1}))
    with pytest.raises(ModelLoadError, match="suffix says UBJ"):
        sniff_xgboost(Path("a.ubj"), json_bytes)
    with pytest.raises(ModelLoadError, match=r"\.json or \.ubj"):
        sniff_xgboost(Path("a.pkl"), json_bytes)
