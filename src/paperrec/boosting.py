"""LightGBM keyword arguments from an estimator's hyperparameters.

The topic classifier (`paperrec.topics.classify`) and the ranker (`paperrec.recommend.ranker`)
both boost trees with LightGBM and name their shared hyperparameters alike; this builds the
keyword arguments for either, so a change of defaults (row subsampling, silence) is made once.
"""

from __future__ import annotations

_SHARED = (
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "colsample_bytree",
    "subsample",
    "n_jobs",
    "random_state",
)


def lgbm_params(estimator, **extra) -> dict:
    """``estimator``'s shared hyperparameters as LightGBM arguments, plus ``extra``."""
    params = {name: getattr(estimator, name) for name in _SHARED}
    params["subsample_freq"] = 1 if estimator.subsample < 1 else 0  # bagging needs a frequency
    return {**params, "verbose": -1, **extra}
