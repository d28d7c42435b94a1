"""PaperRanker: LightGBM LambdaRank over (profile, candidate) features, boosting from a
prior score column (the trees learn corrections to it)."""

from __future__ import annotations

import numpy as np
from lightgbm import LGBMRanker
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from paperrec.boosting import lgbm_params
from paperrec.recommend.features import FEATURE_NAMES, PRIOR_FEATURE

PRIOR_COLUMN = FEATURE_NAMES.index(PRIOR_FEATURE)


class PaperRanker(BaseEstimator):
    """Learns to order candidates for a profile, optimising nDCG.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, colsample_bytree,
    subsample : LightGBM hyperparameters.
    n_jobs : threads.
    random_state : seed.
    prior_column : index of the feature holding a prior score that boosting starts from
        (LightGBM ``init_score``) and that is added back at prediction; None for none.
        NaN priors count as 0.

    60 trees at learning rate 0.15 rank as well as 200 at 0.05 on every protocol (nDCG@10
    within 0.006, well inside run-to-run noise; training/compare_rankers.py trees-*) and
    cost a quarter of the time to score: scoring is most of a daily batch (bench/rank.py).

    ``fit(X, y, group)`` takes features (n_rows, n_features), 0/1 relevance (n_rows,) and
    the number of rows of each query, in order; ``predict(X)`` returns scores (n_rows,).
    """

    def __init__(
        self,
        n_estimators: int = 60,
        learning_rate: float = 0.15,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        n_jobs: int = 2,
        random_state: int = 0,
        prior_column: int | None = PRIOR_COLUMN,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.prior_column = prior_column

    def _prior(self, X: np.ndarray) -> np.ndarray:
        if self.prior_column is None:
            return np.zeros(len(X))
        if not -X.shape[1] <= self.prior_column < X.shape[1]:
            raise ValueError(
                f"prior_column={self.prior_column} but X has {X.shape[1]} features; "
                "pass prior_column=None for features without a prior score"
            )
        return np.nan_to_num(X[:, self.prior_column].astype(np.float64), nan=0.0)

    def fit(self, X, y, group):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float32)
        if np.sum(group) != len(X):
            raise ValueError(f"group sizes sum to {np.sum(group)}, but X has {len(X)} rows")
        self.model_ = LGBMRanker(objective="lambdarank", **lgbm_params(self)).fit(
            X, y, group=group, init_score=self._prior(X)
        )
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float32)
        # The booster directly: the scikit-learn wrapper's checks cost more than scoring
        # a few thousand rows.
        return self.model_.booster_.predict(X) + self._prior(X)

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.model_.feature_importances_
