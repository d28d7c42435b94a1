"""Per-user adaptation: only with enough votes of both kinds, and it follows the votes."""

import numpy as np

from paperrec.recommend.adapt import HALF_WEIGHT_VOTES, MIN_VOTES, fit_user_adapter


def _votes(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    features = rng.normal(size=(n, 5))
    liked = features[:, 2] > 0  # this user likes whatever feature 2 measures
    return features, liked


def test_needs_enough_votes_of_both_kinds():
    rng = np.random.default_rng(0)
    features, liked = _votes(MIN_VOTES - 1, rng)
    assert fit_user_adapter(features, liked) is None
    features, _ = _votes(MIN_VOTES + 5, rng)
    assert fit_user_adapter(features, np.ones(len(features), bool)) is None


def test_weight_grows_with_votes_and_order_follows_the_user():
    rng = np.random.default_rng(1)
    features, liked = _votes(60, rng)
    adapter = fit_user_adapter(features, liked)
    assert adapter is not None
    assert adapter.weight == 60 / (60 + HALF_WEIGHT_VOTES)
    candidates = rng.normal(size=(200, 5))
    flat = np.zeros(200)  # the global ranker has no opinion
    adjusted = adapter.adjust(flat, candidates)
    top = np.argsort(-adjusted)[:20]
    assert (candidates[top, 2] > 0).mean() > 0.9


def test_nan_features_are_tolerated():
    rng = np.random.default_rng(2)
    features, liked = _votes(40, rng)
    features[::3, 0] = np.nan
    adapter = fit_user_adapter(features, liked)
    candidates = rng.normal(size=(10, 5))
    candidates[0, 0] = np.nan
    assert np.isfinite(adapter.adjust(np.arange(10.0), candidates)).all()
