"""TopicClassifier: the scikit-learn estimator contract, calibrated multi-label
probabilities, thresholds chosen from weak labels alone, rare topics, the fast path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from paperrec.topics.boost import training_rows
from paperrec.topics.classify import (
    MIN_POSITIVES,
    TopicClassifier,
    best_f1_threshold,
    recall_threshold,
)

# Checks written for single-output classifiers over class labels. TopicClassifier is
# multi-label over 0/1 topic indicators: `classes_` are topic columns, `predict` returns an
# (n, n_topics) indicator matrix and `predict_proba` (n, n_topics) P(topic), whatever y's
# shape. Each check below asserts the single-output shapes or label semantics.
MULTI_LABEL_ONLY = {
    "check_classifiers_one_label": "asserts predict returns y's single label with shape (n,); "
    "a multi-label classifier returns (n, n_topics), and a topic without two classes keeps its "
    "base rate instead of raising",
    "check_classifiers_classes": "asserts classes_ equals the string labels of y and predict "
    "returns them; here classes_ are topic columns and predictions 0/1 indicators",
    "check_classifiers_train": "asserts predict has shape (n,) and predict_proba (n, 2) for a "
    "binary y; a multi-label classifier returns (n, n_topics) for both",
}


def _expected_failures(estimator) -> dict[str, str]:
    return MULTI_LABEL_ONLY


@parametrize_with_checks(
    [TopicClassifier(n_estimators=5, n_jobs=1)], expected_failed_checks=_expected_failures
)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


N, DIM, RARE = 3000, 16, 3


@pytest.fixture(scope="module")
def data():
    """Embeddings-like X (n, 16) and four topics: common, less common, rare, never."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    Y = np.zeros((N, 4), dtype=np.int8)
    Y[:, 0] = X[:, 0] + 0.3 * rng.normal(size=N) > 0.5
    Y[:, 1] = X[:, 1] - X[:, 2] > 1.2
    Y[rng.choice(N, RARE, replace=False), 2] = 1  # fewer than MIN_POSITIVES
    return X, Y


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3, random_state=1)
    clf = TopicClassifier(n_estimators=30, n_jobs=1).fit(X_train, Y_train)
    return clf, X_train, X_test, Y_train, Y_test


def test_predict_proba_shape_and_range(fitted):
    clf, _, X_test, _, _ = fitted
    P = clf.predict_proba(X_test)
    assert P.shape == (len(X_test), 4)
    assert ((P >= 0) & (P <= 1)).all()
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    assert clf.predict(X_test).shape == (len(X_test), 4)


def test_learns_the_topics(fitted):
    clf, _, X_test, _, Y_test = fitted
    predicted = clf.predict(X_test)
    assert f1_score(Y_test[:, 0], predicted[:, 0]) > 0.8
    assert f1_score(Y_test[:, 1], predicted[:, 1]) > 0.5


def test_calibration_is_monotone_in_the_margin(fitted):
    clf, _, X_test, _, _ = fitted
    P = clf.predict_proba(X_test)
    for k, topic in enumerate(np.flatnonzero(clf.trainable_)):
        margin = clf.boosters_[k].predict(X_test, raw_score=True)
        order = np.argsort(margin, kind="stable")
        assert clf.calibration_coef_[topic] > 0
        assert (np.diff(P[order, topic]) >= 0).all()


def test_probabilities_are_calibrated_on_unseen_papers(fitted):
    clf, _, X_test, _, Y_test = fitted
    P = clf.predict_proba(X_test)
    for topic in (0, 1):
        assert P[:, topic].mean() == pytest.approx(Y_test[:, topic].mean(), abs=0.03)
        # expected calibration error over five probability bins
        bins = np.digitize(P[:, topic], [0.2, 0.4, 0.6, 0.8])
        gaps = [
            abs(P[bins == b, topic].mean() - Y_test[bins == b, topic].mean())
            for b in np.unique(bins)
        ]
        weights = [(bins == b).mean() for b in np.unique(bins)]
        assert np.dot(gaps, weights) < 0.06


def test_best_f1_threshold_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    # F1 by cut: 0.5, 0.8, 0.67, 0.857 (top four), 0.75, 0.67; midway between 0.6 and 0.3
    assert best_f1_threshold(y, scores) == pytest.approx(0.45)
    assert best_f1_threshold(np.zeros(6), scores) == 0.5  # no positives
    assert best_f1_threshold(np.array([0, 0, 1]), np.array([0.03, 0.02, 0.01])) == 0.05  # floor


def test_recall_threshold_by_hand():
    y = np.array([1, 1, 0, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    assert recall_threshold(y, scores, 0.5) == 0.8  # keeps 2 of the 4 positives
    assert recall_threshold(y, scores, 0.6) == 0.6  # 3 of 4
    assert recall_threshold(y, scores, 1.0) == 0.1
    assert recall_threshold(np.zeros(6), scores, 0.6) == 0.5  # no positives


def _calibration_rows(clf, X_train, Y_train):
    _, X_cal, _, Y_cal = train_test_split(
        X_train, Y_train, test_size=clf.calibration_size, random_state=clf.random_state
    )
    return clf.predict_proba(X_cal), Y_cal


def test_thresholds_maximise_weak_label_f1_on_the_held_out_slice(data):
    """No gold anywhere: with no recall floor each threshold is the best cut of the labels
    it was trained on, measured on the calibration rows the boosters never saw."""
    X, Y = data
    clf = TopicClassifier(n_estimators=30, n_jobs=1, min_recall=0.0).fit(X, Y)
    P, Y_cal = _calibration_rows(clf, X, Y)
    for topic in np.flatnonzero(clf.trainable_):
        at_threshold = f1_score(Y_cal[:, topic], P[:, topic] >= clf.thresholds_[topic])
        best = max(f1_score(Y_cal[:, topic], P[:, topic] >= cut) for cut in np.unique(P[:, topic]))
        assert at_threshold == pytest.approx(best)


def test_thresholds_keep_the_minimum_recall_of_weak_positives(fitted):
    """A topic whose F1-best cut keeps too few of its weak positives is cut lower, at the
    highest threshold that keeps ``min_recall`` of them; otherwise the F1-best cut stays."""
    clf, X_train, _, Y_train, _ = fitted
    P, Y_cal = _calibration_rows(clf, X_train, Y_train)
    for topic in np.flatnonzero(clf.trainable_):
        y, p, cut = Y_cal[:, topic], P[:, topic], clf.thresholds_[topic]
        assert (p[y == 1] >= cut).mean() >= clf.min_recall
        f1_best = best_f1_threshold(y, p)
        if (p[y == 1] >= f1_best).mean() >= clf.min_recall:
            assert cut == pytest.approx(f1_best)
        else:
            assert cut == pytest.approx(recall_threshold(y, p, clf.min_recall)) < f1_best
    strict = TopicClassifier(n_estimators=30, n_jobs=1, min_recall=0.95).fit(X_train, Y_train)
    P, Y_cal = _calibration_rows(strict, X_train, Y_train)
    for topic in np.flatnonzero(strict.trainable_):
        assert (P[Y_cal[:, topic] == 1, topic] >= strict.thresholds_[topic]).mean() >= 0.95
    assert (strict.thresholds_ <= clf.thresholds_ + 1e-12).all()


def test_rare_topics_keep_their_base_rate(fitted):
    clf, _, X_test, Y_train, _ = fitted
    assert RARE < MIN_POSITIVES
    assert clf.trainable_.tolist() == [True, True, False, False]
    P = clf.predict_proba(X_test)
    np.testing.assert_allclose(P[:, 2], Y_train[:, 2].mean())
    np.testing.assert_allclose(P[:, 3], 1e-4)  # never seen: the clipped floor
    assert clf.thresholds_[2] == clf.thresholds_[3] == 1.0
    assert not clf.predict(X_test)[:, 2:].any()


def test_single_row_equals_batch(fitted):
    clf, _, X_test, _, _ = fitted
    batch = clf.predict_proba(X_test)
    for i in (0, 7, len(X_test) - 1):
        np.testing.assert_allclose(clf.predict_proba(X_test[i : i + 1])[0], batch[i], rtol=1e-12)
        np.testing.assert_array_equal(clf.predict(X_test[i : i + 1])[0], clf.predict(X_test)[i])


def test_label_encodings_agree(data):
    X, Y = data
    as_int = TopicClassifier(n_estimators=10, n_jobs=1).fit(X, Y).predict_proba(X[:50])
    as_bool = (
        TopicClassifier(n_estimators=10, n_jobs=1).fit(X, Y.astype(bool)).predict_proba(X[:50])
    )
    as_float = (
        TopicClassifier(n_estimators=10, n_jobs=1).fit(X, Y.astype(float)).predict_proba(X[:50])
    )
    np.testing.assert_array_equal(as_int, as_bool)
    np.testing.assert_array_equal(as_int, as_float)


@pytest.mark.parametrize(
    ("Y", "kind"),
    [
        (np.linspace(0, 1, N), "continuous"),
        (np.arange(N) % 3, "multiclass"),
        (np.column_stack([np.arange(N) % 3, np.arange(N) % 2]), "multiclass-multioutput"),
    ],
)
def test_fit_rejects_targets_that_are_not_topic_indicators(data, Y, kind):
    X, _ = data
    with pytest.raises(ValueError, match=f"0/1 topic indicators.*type of the target is {kind}"):
        TopicClassifier(n_estimators=5, n_jobs=1).fit(X, Y)


def test_predict_checks_the_embedding_width(fitted):
    clf, _, X_test, _, _ = fitted
    with pytest.raises(ValueError, match="features"):
        clf.predict_proba(X_test[:, :8])


def test_training_rows_keep_every_positive_and_sample_negatives():
    y = np.zeros(1000, dtype=np.int8)
    y[:10] = 1
    rows = training_rows(y, negative_ratio=4, min_negatives=100, seed=0)
    assert set(range(10)) <= set(rows) and len(rows) == 10 + 100  # the floor, not 4 x 10
    assert (np.diff(rows) > 0).all()
    np.testing.assert_array_equal(rows, training_rows(y, 4, 100, seed=0))  # seeded
    assert len(training_rows(y, negative_ratio=20, min_negatives=100, seed=0)) == 10 + 200
    np.testing.assert_array_equal(training_rows(y, 4, 5000, seed=0), np.arange(1000))
    np.testing.assert_array_equal(training_rows(y, None, 100, seed=0), np.arange(1000))


def test_sampled_negatives_are_recalibrated(data):
    """With a few hundred of the negatives, P(topic) still matches the held-out rate: the
    calibration rows keep the full mix."""
    X, Y = data
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3, random_state=1)
    sampled = TopicClassifier(n_estimators=30, n_jobs=2, negative_ratio=1, min_negatives=200)
    P = sampled.fit(X_train, Y_train).predict_proba(X_test)
    assert P[:, 1].mean() == pytest.approx(Y_test[:, 1].mean(), abs=0.03)
    assert f1_score(Y_test[:, 1], sampled.predict(X_test)[:, 1]) > 0.5
