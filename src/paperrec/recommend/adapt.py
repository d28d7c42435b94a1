"""Per-user adaptation: once a user has rated enough of the papers shown to them, a small
logistic model of *their* up/down votes over the ranker's features adjusts the global
ranker's order for them.

The blend weight grows with the evidence, ``votes / (votes + HALF_WEIGHT_VOTES)``, so a
handful of votes nudges and hundreds dominate. Scores are standardised within the
candidate set before blending, so the two scales never need to agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MIN_VOTES = 20
HALF_WEIGHT_VOTES = 50


def _clean(features: np.ndarray) -> np.ndarray:
    return np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0)


def _standardise(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-9)


@dataclass
class UserAdapter:
    model: object
    weight: float
    votes: int

    def adjust(self, scores: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Blended scores (n,) for candidates with ranker ``scores`` and ``features``."""
        personal = self.model.decision_function(_clean(features))
        return (1 - self.weight) * _standardise(scores) + self.weight * _standardise(personal)


def fit_user_adapter(features: np.ndarray, liked: np.ndarray) -> UserAdapter | None:
    """An adapter from the features (n, n_features) of rated shown papers and whether each
    was liked (n,); None below MIN_VOTES or without both kinds of vote."""
    liked = np.asarray(liked).astype(int)
    votes = len(liked)
    if votes < MIN_VOTES or liked.min() == liked.max():
        return None
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, class_weight="balanced", max_iter=1000)
    )
    model.fit(_clean(features), liked)
    return UserAdapter(model, votes / (votes + HALF_WEIGHT_VOTES), votes)
