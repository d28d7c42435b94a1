"""The topic boosters merged into one LightGBM model (paperrec.topics.merged) give every
topic's raw margin in one call, equal to the topic's own booster."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from paperrec.topics.classify import MERGED_BELOW, TopicClassifier
from paperrec.topics.merged import merge, merged


def _booster(X, y, rounds: int, seed: int) -> lgb.Booster:
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


def test_merged_margins_equal_each_boosters_own_with_uneven_tree_counts():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12))
    boosters = [
        _booster(X, (X[:, 0] > 0).astype(int), 30, 1),
        _booster(X, (X[:, 1] + X[:, 2] > 0.5).astype(int), 7, 2),  # fewer trees: padded
        _booster(X, (X[:, 3] < -1).astype(int), 1, 3),
    ]
    model = merge(boosters)
    assert model.num_trees() == 30 * 3
    rows = rng.standard_normal((5, 12))
    expected = np.stack([b.predict(rows, raw_score=True) for b in boosters], axis=1)
    np.testing.assert_array_equal(model.predict(rows, raw_score=True), expected)


def test_a_classifier_merges_once_and_again_after_a_refit():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] < 0], axis=1).astype(int)
    clf = TopicClassifier(n_estimators=10, n_jobs=1).fit(X, Y)
    first = merged(clf, clf.boosters_)
    assert merged(clf, clf.boosters_) is first
    few, many = X[: MERGED_BELOW - 1], X[:100]  # the merged path and the per-topic one
    np.testing.assert_allclose(
        clf.predict_proba(few), clf.predict_proba(many)[: len(few)], rtol=1e-12
    )
    clf.fit(X, 1 - Y)
    assert merged(clf, clf.boosters_) is not first
    np.testing.assert_allclose(
        clf.predict_proba(few), clf.predict_proba(many)[: len(few)], rtol=1e-12
    )


def test_new_boosters_at_the_address_of_freed_ones_are_merged_again():
    # CPython hands a freed booster's memory, so its id, to the next one made: a cache keyed
    # on ids gave the old topic's margins for the new booster (seen in about a third of
    # these trials).
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 4))
    texts = [_booster(X, (X[:, c] > 0).astype(int), 3, c).model_to_string() for c in range(3)]
    kept = lgb.Booster(model_str=texts[2])

    class Owner:
        boosters: list

    owner = Owner()
    for trial in range(20):
        owner.boosters = [lgb.Booster(model_str=texts[trial % 2]), kept]
        merged(owner, owner.boosters)
        owner.boosters = None  # frees the first booster
        owner.boosters = [lgb.Booster(model_str=texts[(trial + 1) % 2]), kept]
        got = merged(owner, owner.boosters).predict(X[:3], raw_score=True)[:, 0]
        np.testing.assert_array_equal(got, owner.boosters[0].predict(X[:3], raw_score=True))
