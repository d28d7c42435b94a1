"""The topic trees as flat arrays (paperrec.topics.forest) give LightGBM's margins bit for
bit, so the classifier's probabilities do not change with the faster path."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from paperrec.topics.classify import TopicClassifier
from paperrec.topics.default import load_packaged
from paperrec.topics.forest import flatten, forest_of, lightgbm_only


@pytest.fixture(scope="module")
def packaged():
    return load_packaged()


def _embedding_like(model, n: int, seed: int) -> np.ndarray:
    """The packaged model's own topic-description vectors, then unit mixtures of them."""
    rng = np.random.default_rng(seed)
    vectors = model.topic_vectors.astype(np.float32)
    mixed = rng.dirichlet(np.full(len(vectors), 0.3), size=n) @ vectors
    mixed += rng.normal(scale=0.02, size=mixed.shape)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([vectors, mixed]).astype(np.float32)


def test_the_packaged_model_scores_exactly_as_with_lightgbm(packaged):
    classifier = packaged.classifier
    assert forest_of(classifier, classifier.boosters_) is not None
    X = _embedding_like(packaged, 300, seed=0)
    with lightgbm_only():
        expected = classifier.predict_proba(X)  # per booster (many rows)
        few = classifier.predict_proba(X[:5])  # the merged model (a few rows)
    np.testing.assert_array_equal(classifier.predict_proba(X), expected)  # two threads
    np.testing.assert_array_equal(few, expected[:5])
    # Every way the rows split: one row, the eight-row steps and their rest, one thread.
    for n in (1, 7, 8, 9, 33, 63):
        np.testing.assert_array_equal(classifier.predict_proba(X[:n]), expected[:n])
    np.testing.assert_array_equal(
        classifier.predict(X), (expected >= classifier.thresholds_).astype(int)
    )


def _booster(X, y, params: dict, rounds: int) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0}
    return lgb.train(base | params, lgb.Dataset(X, y), num_boost_round=rounds)


def test_uneven_trees_and_one_leaf_trees_are_walked_as_lightgbm_does():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 10)).astype(np.float32)
    boosters = [
        _booster(X, (X[:, 0] + X[:, 1] > 0).astype(int), {"num_leaves": 15}, 40),
        # No split can keep 300 rows on each side: one tree of one leaf (the base rate).
        _booster(X, (X[:, 2] > 0).astype(int), {"min_data_in_leaf": 300}, 10),
        _booster(X, (X[:, 3] < -1.5).astype(int), {"max_depth": 1}, 3),
    ]
    assert [t["num_leaves"] for t in boosters[1].dump_model()["tree_info"]] == [1]
    forest = flatten(boosters)
    rows = rng.standard_normal((77, 10)).astype(np.float32)
    rows[:5, :3] = 0.0  # on and around the thresholds of zero
    expected = np.stack([b.predict(rows, raw_score=True) for b in boosters], axis=1)
    np.testing.assert_array_equal(forest.margins(rows), expected)
    np.testing.assert_array_equal(forest.margins(rows, n_jobs=2), expected)
    with pytest.raises(ValueError, match="dim >= "):  # never read past a row
        forest.margins(rows[:, : forest.n_features - 1])


def test_splits_it_cannot_walk_leave_the_classifier_on_lightgbm():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 6))
    X[:, 0] = rng.integers(0, 4, size=300)
    categorical = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(X, (X[:, 0] == 2).astype(int), categorical_feature=[0]),
        num_boost_round=5,
    )
    zero_missing = _booster(X, (X[:, 1] > 0).astype(int), {"zero_as_missing": True}, 5)
    assert flatten([categorical]) is None
    assert flatten([zero_missing]) is None

    Y = np.stack([X[:, 1] > 0, X[:, 2] > 0.3], axis=1).astype(int)
    clf = TopicClassifier(n_estimators=10, n_jobs=1).fit(X.astype(np.float32), Y)
    clf.boosters_ = [categorical, clf.boosters_[1]]  # as if a topic had categorical splits
    assert forest_of(clf, clf.boosters_) is None
    with lightgbm_only():
        expected = clf.predict_proba(X[:20])
    np.testing.assert_array_equal(clf.predict_proba(X[:20]), expected)


def test_a_refit_classifier_is_flattened_again():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] < 0], axis=1).astype(int)
    clf = TopicClassifier(n_estimators=10, n_jobs=1).fit(X, Y)
    first = forest_of(clf, clf.boosters_)
    assert forest_of(clf, clf.boosters_) is first
    clf.fit(X, 1 - Y)
    assert forest_of(clf, clf.boosters_) is not first
    with lightgbm_only():
        expected = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
