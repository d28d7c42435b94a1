"""One LightGBM booster per topic, all on one binned copy of the embeddings.

Fitting a topic model used to cost 20-40 s per topic on the two pools (28,000 training rows,
73 topics): each ``LGBMClassifier.fit`` binned all 384 embedding dimensions again (about
3 s), boosted on every row although a rare topic has a few hundred positives, and ran two
OpenMP threads that spin against each other on a busy 2-core machine. Here:

- the embeddings are binned once (`lightgbm.Dataset`) and every topic trains on a row
  subset of that Dataset (``Dataset.subset`` reuses the bins);
- a topic trains on all its positives and a random sample of its negatives
  (``negative_ratio`` per positive, at least ``min_negatives``): the scores this biases are
  recalibrated on held-out rows with the full mix (`paperrec.topics.classify`);
- topics are boosted ``n_jobs`` at a time, one thread each (LightGBM releases the GIL), so
  no thread waits on another inside one small booster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Lock

import lightgbm as lgb
import numpy as np

from paperrec.boosting import lgbm_params


def booster_params(estimator) -> dict:
    """A TopicClassifier's hyperparameters as `lightgbm.train` parameters (the shared
    mapping of `paperrec.boosting`; LightGBM reads its scikit-learn names as aliases), one
    thread per booster."""
    return lgbm_params(
        estimator,
        objective="binary",
        reg_lambda=estimator.reg_lambda,
        n_jobs=1,
        force_col_wise=True,  # skips LightGBM's row/column-wise timing test per booster
    )


def binned(X: np.ndarray, max_bin: int, sample: int = 5000) -> lgb.Dataset:
    """X (n, dim) binned once; bin edges from ``sample`` rows."""
    params = {"max_bin": max_bin, "bin_construct_sample_cnt": sample, "verbose": -1}
    return lgb.Dataset(X, params=params, free_raw_data=False).construct()


def training_rows(
    y: np.ndarray, negative_ratio: float | None, min_negatives: int, seed: int
) -> np.ndarray:
    """Sorted row indices: every positive of 0/1 ``y`` and a seeded sample of its negatives,
    ``negative_ratio`` per positive but at least ``min_negatives`` (all rows when None)."""
    if negative_ratio is None:
        return np.arange(len(y))
    positives, negatives = np.flatnonzero(y), np.flatnonzero(y == 0)
    keep = int(min(len(negatives), max(negative_ratio * len(positives), min_negatives)))
    if keep == len(negatives):
        return np.arange(len(y))
    sampled = np.random.default_rng(seed).choice(negatives, keep, replace=False)
    return np.sort(np.concatenate([positives, sampled]))


def fit_boosters(
    data: lgb.Dataset,
    Y: np.ndarray,
    params: dict,
    *,
    negative_ratio: float | None,
    min_negatives: int,
    n_jobs: int,
    within: np.ndarray | None = None,
) -> list[lgb.Booster]:
    """One booster per column of 0/1 ``Y`` (n, n_columns) on the rows of ``data``, or only
    on the row indices ``within`` (a cross-validation fold) when given."""
    seed = params["random_state"]
    lock = Lock()  # subsets are cut one at a time; at most n_jobs of them live at once
    within = np.arange(len(Y)) if within is None else np.asarray(within)

    def train(column: int) -> lgb.Booster:
        picked = training_rows(Y[within, column], negative_ratio, min_negatives, seed + column)
        rows = within[picked]
        with lock:
            subset = data.subset(rows).construct()
            subset.set_label(Y[rows, column])
        return lgb.train(params, subset, num_boost_round=params["n_estimators"])

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        return list(pool.map(train, range(Y.shape[1])))


def out_of_fold_margins(
    data: lgb.Dataset,
    X: np.ndarray,
    Y: np.ndarray,
    params: dict,
    *,
    folds: int,
    negative_ratio: float | None,
    min_negatives: int,
    n_jobs: int,
) -> np.ndarray:
    """(n, n_columns) raw margins of each row of X (the rows ``data`` was binned from) from
    boosters that never saw it: ``folds``-fold cross-fitting, one booster per column and fold,
    each trained like `fit_boosters` on the other folds' rows."""
    margins = np.zeros(Y.shape, dtype=np.float64)
    order = np.random.default_rng(params["random_state"]).permutation(len(Y))
    for held_out in np.array_split(order, folds):
        kept = np.setdiff1d(order, held_out)
        boosters = fit_boosters(
            data,
            Y,
            params,
            negative_ratio=negative_ratio,
            min_negatives=min_negatives,
            n_jobs=n_jobs,
            within=kept,
        )
        for column, booster in enumerate(boosters):
            margins[held_out, column] = booster.predict(
                X[held_out], raw_score=True, num_threads=max(1, n_jobs)
            )
    return margins
