"""TopicClassifier: the scikit-learn estimator contract, calibrated multi-label
probabilities, thresholds chosen from weak labels alone (cross-fitted for topics with few
positives), rare topics, the fast path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from paperrec.topics.boost import (
    binned,
    booster_params,
    fit_boosters,
    out_of_fold_margins,
    training_rows,
)
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


def _few_positives(n: int = 4000, seed: int = 0):
    """X (n, 16) and two topics: a common one and one with about 2 % positives (about 16
    in a calibration slice of 20 %, fewer than the default 30)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, DIM)).astype(np.float32)
    Y = np.zeros((n, 2), dtype=np.int8)
    Y[:, 0] = X[:, 0] > 0.3
    Y[:, 1] = X[:, 3] + 0.5 * rng.normal(size=n) > 2.3
    return X, Y


def test_out_of_fold_margins_come_from_boosters_that_never_saw_the_row():
    """A label that is noise can be memorised by a booster trained on the row, not predicted
    by one that was not: in-sample margins separate it, out-of-fold margins do not."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, DIM)).astype(np.float32)
    Y = (rng.random((2000, 1)) < 0.3).astype(np.int8)
    clf = TopicClassifier(n_estimators=100, num_leaves=31, colsample_bytree=1.0, n_jobs=1)
    params = booster_params(clf)
    data = binned(X, clf.max_bin)
    folds = dict(negative_ratio=None, min_negatives=0, n_jobs=1)
    out_of_fold = out_of_fold_margins(data, X, Y, params, folds=5, **folds)
    assert out_of_fold.shape == (2000, 1)
    in_sample = fit_boosters(data, Y, params, **folds)[0].predict(X, raw_score=True)
    assert roc_auc_score(Y[:, 0], in_sample) > 0.9
    assert abs(roc_auc_score(Y[:, 0], out_of_fold[:, 0]) - 0.5) < 0.05


def test_topics_with_few_calibration_positives_are_cross_fitted():
    """The rare topic's calibration and threshold come from out-of-fold margins of every
    training row as well as the calibration slice: they keep ``min_recall`` of all its weak
    positives, not of the few in the slice."""
    X, Y = _few_positives()
    clf = TopicClassifier(n_estimators=30, n_jobs=1).fit(X, Y)
    assert clf.cross_fitted_.tolist() == [False, True]
    X_train, X_cal, Y_train, Y_cal = train_test_split(
        X, Y, test_size=clf.calibration_size, random_state=clf.random_state
    )
    assert Y_cal[:, 1].sum() < clf.min_calibration_positives <= Y_cal[:, 0].sum()
    out_of_fold = out_of_fold_margins(
        binned(X_train, clf.max_bin),
        X_train,
        Y_train[:, [1]],
        booster_params(clf),
        folds=clf.cv_folds,
        negative_ratio=clf.negative_ratio,
        min_negatives=clf.min_negatives,
        n_jobs=1,
    )[:, 0]
    margin = np.concatenate([out_of_fold, clf.boosters_[1].predict(X_cal, raw_score=True)])
    y = np.concatenate([Y_train[:, 1], Y_cal[:, 1]])
    p = 1 / (1 + np.exp(-(clf.calibration_coef_[1] * margin + clf.calibration_intercept_[1])))
    cut = min(best_f1_threshold(y, p), recall_threshold(y, p, clf.min_recall))
    assert clf.thresholds_[1] == pytest.approx(cut)
    assert (p[y == 1] >= clf.thresholds_[1]).mean() >= clf.min_recall
    assert p.mean() == pytest.approx(y.mean(), abs=0.01)  # Platt fitted on those rows
    off = TopicClassifier(n_estimators=30, n_jobs=1, min_calibration_positives=0).fit(X, Y)
    assert not off.cross_fitted_.any()
    np.testing.assert_array_equal(off.thresholds_[0], clf.thresholds_[0])  # common: as before


def test_cross_fitting_steadies_a_rare_topics_recall_across_seeds():
    """Chosen on the calibration slice's dozen positives, a rare topic's threshold (and so
    its recall on new papers) moves with the seed; chosen on every row's out-of-fold
    margins it moves less."""
    X, Y = _few_positives()
    X_new, Y_new = _few_positives(n=20000, seed=1)
    spread = {}
    for floor in (0, 30):
        recall = []
        for seed in range(5):
            clf = TopicClassifier(
                n_estimators=30, n_jobs=1, min_calibration_positives=floor, random_state=seed
            ).fit(X, Y)
            recall.append(clf.predict(X_new)[Y_new[:, 1] == 1, 1].mean())
        spread[floor] = np.std(recall)
    assert spread[30] < spread[0]
