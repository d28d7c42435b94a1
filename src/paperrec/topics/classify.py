"""TopicClassifier: calibrated multi-label topic probabilities from paper embeddings.

One LightGBM booster per topic, trained on the weak labels
(`paperrec.topics.boost`: the embeddings binned once and shared by every topic, each topic
on its positives and a sample of its negatives, topics boosted in parallel; scikit-learn's
``OneVsRestClassifier`` would bin the embeddings again for every topic).

A slice of the training data is held out to calibrate each topic's scores (Platt scaling
on the raw margin, which also undoes the bias of sampled negatives) and to choose each
topic's decision threshold, the one that maximises F1 against the weak labels (no gold
label is needed), lowered where needed so that it keeps ``min_recall`` of the held-out
weak positives: for a rare topic the F1-best threshold keeps only its most certain papers
(on the dev set 11 areas with 20+ papers had recall under 0.4; with ``min_recall`` 0.6, 4).
A topic with fewer than ``min_calibration_positives`` weak positives among the held-out
rows (programming-languages has about 7 of its 34) would take both from a handful of
papers, and they swung with the seed; it is calibrated on out-of-fold margins of every
training row as well (``cv_folds`` extra boosters per such topic, trained like the first).

Prediction reads the fitted boosters directly: the scikit-learn wrappers cost about a
millisecond per call per topic, which would dominate a single-paper request. Every topic's
trees are read once into flat arrays and walked by a compiled loop
(`paperrec.topics.forest`: LightGBM's margins bit for bit, 2-4x faster). Boosters it cannot
walk (categorical or zero-as-missing splits, linear trees: paperrec trains none) keep
LightGBM: a few rows through every topic in one call of a merged model
(`paperrec.topics.merged`), more rows one booster at a time.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from paperrec.topics.boost import binned, booster_params, fit_boosters, out_of_fold_margins
from paperrec.topics.forest import forest_of
from paperrec.topics.merged import merged

MIN_POSITIVES = 5  # fewer weak positives than this: the topic keeps its base rate
SINGLE_THREAD_BELOW = 64  # rows
MERGED_BELOW = 8  # rows: fewer go through all topics in one call (`paperrec.topics.merged`)


def recall_threshold(y_true: np.ndarray, scores: np.ndarray, recall: float) -> float:
    """The highest threshold on ``scores`` that keeps at least ``recall`` of the positives."""
    positives = np.sort(scores[y_true == 1])[::-1]
    if len(positives) == 0:
        return 0.5
    return float(positives[max(int(np.ceil(recall * len(positives))) - 1, 0)])


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray, floor: float = 0.05) -> float:
    """Threshold on ``scores`` that maximises F1 for ``y_true`` (0/1); 0.5 without positives."""
    if y_true.sum() == 0:
        return 0.5
    order = np.argsort(-scores)
    sorted_scores, sorted_true = scores[order], y_true[order]
    true_pos = np.cumsum(sorted_true)
    precision = true_pos / np.arange(1, len(scores) + 1)
    recall = true_pos / y_true.sum()
    f1 = np.where(
        precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0
    )
    best = int(np.argmax(f1))
    # Midway to the next score, so the threshold is not tied to one calibration point.
    following = sorted_scores[best + 1] if best + 1 < len(scores) else sorted_scores[best] - 1e-6
    return float(max((sorted_scores[best] + following) / 2, floor))


class TopicClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label topic classifier over embeddings.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, colsample_bytree,
    subsample, reg_lambda, max_bin : LightGBM hyperparameters, shared by every topic.
    calibration_size : share of the training rows held out for calibration and thresholds.
    min_recall : each threshold keeps at least this share of the held-out weak positives
        (0 turns it off: thresholds then maximise F1 alone).
    negative_ratio, min_negatives : each topic trains on its weak positives and a sample of
        ``negative_ratio`` negatives per positive, at least ``min_negatives`` (None: all rows).
    min_calibration_positives : a topic with fewer weak positives than this among the
        calibration rows is calibrated and thresholded on out-of-fold margins of every
        training row as well (``cv_folds``-fold cross-fitting; 0 turns it off).
    cv_folds : folds of that cross-fitting.
    n_jobs : topics boosted at once (one thread each); threads when predicting.
    random_state : seed for the split and for LightGBM.

    Attributes
    ----------
    classes_ : (n_topics,) column indices of Y (0..n_topics-1).
    boosters_ : the fitted ``lightgbm.Booster`` of each trainable topic, in column order.
    calibration_coef_, calibration_intercept_ : (n_topics,) Platt scaling on raw margins.
    thresholds_ : (n_topics,) decision thresholds on calibrated probabilities.
    """

    # Bundles pickled before ``min_recall`` existed chose thresholds by F1 alone: the class
    # attribute describes them (get_params reads it); new instances default to 0.6.
    min_recall = 0.0
    # Likewise for bundles from before negative sampling: they trained on every row.
    negative_ratio = None
    min_negatives = 0
    # And before cross-fitted calibration of topics with few positives.
    min_calibration_positives = 0
    cv_folds = 5

    def __init__(
        self,
        n_estimators: int = 150,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        colsample_bytree: float = 0.3,
        subsample: float = 0.8,
        reg_lambda: float = 1.0,
        max_bin: int = 63,
        calibration_size: float = 0.2,
        min_recall: float = 0.6,
        negative_ratio: float | None = 4.0,
        min_negatives: int = 4000,
        min_calibration_positives: int = 30,
        cv_folds: int = 5,
        n_jobs: int = 2,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.calibration_size = calibration_size
        self.min_recall = min_recall
        self.negative_ratio = negative_ratio
        self.min_negatives = min_negatives
        self.min_calibration_positives = min_calibration_positives
        self.cv_folds = cv_folds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, Y):
        """Fit on embeddings X (n_papers, dim) and 0/1 topic labels Y (n_papers, n_topics)."""
        X, Y = validate_data(self, X, Y, multi_output=True, dtype=np.float32)
        kind = type_of_target(Y, input_name="Y", raise_unknown=True)
        if kind not in ("binary", "multilabel-indicator"):
            raise ValueError(
                "Only binary classification is supported: Y must hold 0/1 topic indicators "
                f"(n_papers, n_topics); the type of the target is {kind}."
            )
        Y = np.asarray(Y)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if not np.isin(Y, (0, 1)).all():  # two other labels: the larger is positive
            Y = Y == np.unique(Y)[-1]
        Y = Y.astype(np.int8)
        n_topics = Y.shape[1]
        self.classes_ = np.arange(n_topics)
        X_train, X_cal, Y_train, Y_cal = train_test_split(
            X, Y, test_size=self.calibration_size, random_state=self.random_state
        )
        trainable = (Y_train.sum(axis=0) >= MIN_POSITIVES) & (Y_train.sum(axis=0) < len(Y_train))
        self.trainable_ = trainable
        self.base_rate_ = Y.mean(axis=0)
        data = binned(X_train, self.max_bin)
        self.boosters_ = (
            fit_boosters(
                data,
                Y_train[:, trainable],
                booster_params(self),
                negative_ratio=self.negative_ratio,
                min_negatives=self.min_negatives,
                n_jobs=self.n_jobs,
            )
            if trainable.any()
            else []
        )
        self._calibrate(data, X_train, Y_train, X_cal, Y_cal)
        return self

    def _calibrate(self, data, X_train, Y_train, X_cal, Y_cal) -> None:
        """Platt scaling and threshold of each topic on the calibration rows' margins; a
        topic with fewer than ``min_calibration_positives`` positives there adds the
        out-of-fold margins of every training row (``data`` is X_train binned)."""
        n_topics = Y_cal.shape[1]
        margins = self._margins(X_cal)
        self.calibration_coef_ = np.zeros(n_topics)
        self.calibration_intercept_ = np.zeros(n_topics)
        self.thresholds_ = np.full(n_topics, 0.5)
        few = self.trainable_ & (Y_cal.sum(axis=0) < self.min_calibration_positives)
        self.cross_fitted_ = few
        if few.any():
            out_of_fold = out_of_fold_margins(
                data,
                X_train,
                Y_train[:, few],
                booster_params(self),
                folds=self.cv_folds,
                negative_ratio=self.negative_ratio,
                min_negatives=self.min_negatives,
                n_jobs=self.n_jobs,
            )
        for t in range(n_topics):
            if not few[t]:
                self._calibrate_topic(t, margins[:, t], Y_cal[:, t])
                continue
            column = int(few[:t].sum())
            self._calibrate_topic(
                t,
                np.concatenate([out_of_fold[:, column], margins[:, t]]),
                np.concatenate([Y_train[:, t], Y_cal[:, t]]),
            )

    def _calibrate_topic(self, t: int, margin: np.ndarray, y: np.ndarray) -> None:
        if not self.trainable_[t] or y.min() == y.max():
            rate = float(np.clip(self.base_rate_[t], 1e-4, 1 - 1e-4))
            self.calibration_intercept_[t] = np.log(rate / (1 - rate))
            self.thresholds_[t] = 1.0 if not self.trainable_[t] else 0.5
            return
        platt = LogisticRegression(C=1e4).fit(margin.reshape(-1, 1), y)
        self.calibration_coef_[t] = platt.coef_[0, 0]
        self.calibration_intercept_[t] = platt.intercept_[0]
        calibrated = 1 / (
            1 + np.exp(-(self.calibration_coef_[t] * margin + self.calibration_intercept_[t]))
        )
        self.thresholds_[t] = min(
            best_f1_threshold(y, calibrated), recall_threshold(y, calibrated, self.min_recall)
        )

    def _margins(self, X: np.ndarray) -> np.ndarray:
        """Raw LightGBM margins (n, n_topics); zero for topics without a model."""
        margins = np.zeros((X.shape[0], len(self.classes_)))
        columns = np.flatnonzero(self.trainable_)
        boosters = self._boosters()
        forest = forest_of(self, boosters) if boosters else None
        if forest is not None:  # the trees as flat arrays, LightGBM's margins bit for bit
            margins[:, columns] = forest.margins(X, self.n_jobs)
            return margins
        if 1 < len(boosters) and X.shape[0] < MERGED_BELOW:
            model = merged(self, boosters)  # a few rows: one call for every topic
            margins[:, columns] = model.predict(X, raw_score=True, num_threads=1)
            return margins
        # One thread for a few rows: waking a second one costs more than the trees.
        threads = 1 if X.shape[0] < SINGLE_THREAD_BELOW else self.n_jobs
        for column, booster in zip(columns, boosters, strict=True):
            margins[:, column] = booster.predict(X, raw_score=True, num_threads=threads)
        return margins

    def _boosters(self) -> list:
        if hasattr(self, "boosters_"):
            return self.boosters_
        # Bundles pickled before `boosters_` hold a OneVsRestClassifier of LGBMClassifiers.
        if not hasattr(self, "estimator_"):
            return []
        return [estimator.booster_ for estimator in self.estimator_.estimators_]

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated P(topic) for each paper and topic, (n_papers, n_topics)."""
        check_is_fitted(self, "thresholds_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        z = self._margins(X) * self.calibration_coef_ + self.calibration_intercept_
        return 1 / (1 + np.exp(-z))

    def predict(self, X) -> np.ndarray:
        """0/1 topic labels (n_papers, n_topics): probability at or above the threshold."""
        return (self.predict_proba(X) >= self.thresholds_).astype(int)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False  # every topic is its own binary task
        return tags
