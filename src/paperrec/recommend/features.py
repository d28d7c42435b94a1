"""Features of (profile, candidate) pairs, computed from embeddings and topic probabilities.

Everything here takes arrays. A profile is the user's liked papers (with how recent each
like is), disliked papers, the topic probabilities of the liked papers and the topics the
user chose. ``ProfileFeaturizer`` is fitted once on the corpus to learn the background
the "whitened centroid" is measured against: the direction from the average paper to
the user's papers, with directions every paper varies along shrunk, so what makes this
user's papers different weighs more than what all papers share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

FEATURE_NAMES = (
    "lex_centroid",
    "lex_max",
    "lex_dis_max",
    "sim_max",
    "sim_mean",
    "sim_top3",
    "sim_centroid",
    "sim_decayed",
    "whitened",
    "liked_in_neighbourhood",
    "dis_max",
    "dis_mean",
    "like_minus_dislike",
    "topic_agreement",
    "chosen_topic_max",
    "genericness",
    "log_profile_size",
    "z_centroid",
    "z_whitened",
    "age_days",
    "prior",
)
PRIOR_FEATURE = "prior"
# The prior: whitened-centroid score plus half the word-overlap score, each standardised
# within the candidate set. On its own it ranks well on every protocol; the learned ranker
# starts from it and learns corrections (LightGBM init_score), so pseudo-users that differ
# from real users can shift it but not replace it.
# A candidate nearer to a disliked paper than to any liked one loses that excess, counted
# in standard deviations of sim_max over the candidate set (the prior's own unit). The
# pseudo-users the ranker learns from rarely dislike anything, so the trees alone leave a
# disliked paper's near copy at the top; the prior carries the dislike instead. Profiles
# without dislikes rank exactly as before.
PRIOR_LEXICAL_WEIGHT = 0.5
NEIGHBOURS = 10  # neighbourhood size for liked_in_neighbourhood
TOP_K = 3


@dataclass(frozen=True)
class ProfileArrays:
    """A user profile as arrays.

    liked : (n_liked, dim) unit vectors.
    liked_weights : (n_liked,) recency weights summing to 1 (uniform when times are unknown).
    disliked : (n_disliked, dim) unit vectors, possibly (0, dim).
    liked_topics : (n_liked, n_topics) topic probabilities, possibly (n_liked, 0).
    liked_lexical, disliked_lexical : sparse TF-IDF rows of the liked and disliked papers.
    chosen_topics : (n_topics,) 0/1 indicator of topics the user picked, possibly (0,).
    """

    liked: np.ndarray
    liked_weights: np.ndarray
    disliked: np.ndarray
    liked_topics: np.ndarray
    liked_lexical: sp.csr_matrix
    disliked_lexical: sp.csr_matrix
    chosen_topics: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class CandidateArrays:
    """Candidates as arrays: X (n, dim) unit vectors, lexical (n, vocabulary) sparse TF-IDF,
    topics (n, n_topics) probabilities (possibly (n, 0)), age_days (n,) days before the
    newest candidate, NaN if unknown."""

    X: np.ndarray
    lexical: sp.csr_matrix
    topics: np.ndarray
    age_days: np.ndarray

    def __len__(self) -> int:
        return len(self.X)

    @cached_property
    def lexical_by_term(self) -> sp.csr_matrix:
        """``lexical`` transposed, (vocabulary, n) CSR, built once per candidate set: a
        profile's TF-IDF rows multiply it several times faster than the other way round."""
        return sp.csr_matrix(self.lexical.T)


def neighbour_radius(X: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Similarity of each candidate to its k-th nearest other candidate (n,).

    Shared by every profile ranked against the same candidates, so a batch computes it once.
    """
    n = len(X)
    if n <= 1:
        return np.ones(n, dtype=np.float32)
    k = min(k, n - 1)
    radius = np.empty(n, dtype=np.float32)
    for start in range(0, n, 1024):  # bounded memory: 1024 x n similarities at a time
        block = X[start : start + 1024] @ X.T
        np.fill_diagonal(block[:, start : start + 1024], -np.inf)
        radius[start : start + 1024] = -np.partition(-block, k - 1, axis=1)[:, k - 1]
    return radius


def recency_weights(liked_age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """Weights halving every ``half_life_days`` of like age; uniform when ages are unknown."""
    ages = np.asarray(liked_age_days, dtype=float)
    if len(ages) == 0:
        return ages
    ages = np.where(np.isnan(ages), np.nanmedian(ages) if not np.isnan(ages).all() else 0.0, ages)
    weights = 0.5 ** (np.maximum(ages, 0) / half_life_days)
    return weights / weights.sum()


def _zscore(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-9)


class ProfileFeaturizer:
    """Learns the corpus background; turns (profile, candidates) into a feature matrix.

    Parameters
    ----------
    shrinkage : weight of the identity in the shrunk corpus covariance (0: full
        whitening, 1: none). Mild whitening generalised best in the evaluation.
    """

    def __init__(self, shrinkage: float = 0.5):
        self.shrinkage = shrinkage

    def fit(self, X: np.ndarray) -> ProfileFeaturizer:
        """Learn the corpus mean and shrunk precision from X (n_papers, dim)."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        cov = np.cov(X, rowvar=False)
        target = np.trace(cov) / len(cov) * np.eye(len(cov))
        self.precision_ = np.linalg.inv(
            (1 - self.shrinkage) * cov + self.shrinkage * target
        ).astype(np.float32)
        self.mean_ = self.mean_.astype(np.float32)
        return self

    def transform(
        self, profile: ProfileArrays, candidates: CandidateArrays, radius: np.ndarray | None = None
    ) -> np.ndarray:
        """Features (n_candidates, len(FEATURE_NAMES)) for one profile; NaN where a feature
        does not apply (no disliked papers, no topics)."""
        X = candidates.X
        n = len(X)
        out = np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
        column = {name: out[:, i] for i, name in enumerate(FEATURE_NAMES)}
        if radius is None:
            radius = neighbour_radius(X)
        liked = profile.liked
        if len(liked):
            self._liked_features(column, X, profile, radius)
            lexical = _dense(profile.liked_lexical @ candidates.lexical_by_term).T
            column["lex_max"][:] = lexical.max(axis=1)
            column["lex_centroid"][:] = lexical.mean(axis=1)
            column[PRIOR_FEATURE][:] = column["z_whitened"] + PRIOR_LEXICAL_WEIGHT * _zscore(
                column["lex_centroid"]
            )
        if len(profile.disliked):
            dis = X @ profile.disliked.T
            column["dis_max"][:] = dis.max(axis=1)
            column["dis_mean"][:] = dis.mean(axis=1)
            lexical_dis = _dense(profile.disliked_lexical @ candidates.lexical_by_term)
            column["lex_dis_max"][:] = lexical_dis.max(axis=0)
            if len(liked):
                excess = np.maximum(column["dis_max"] - column["sim_max"], 0.0)
                column[PRIOR_FEATURE][:] -= excess / (column["sim_max"].std() + 1e-9)
        column["like_minus_dislike"][:] = np.nan_to_num(column["sim_max"]) - np.nan_to_num(
            column["dis_max"]
        )
        topics = candidates.topics
        if topics.shape[1] and profile.liked_topics.shape[0] and profile.liked_topics.shape[1]:
            mean_topics = profile.liked_topics.mean(axis=0)
            norms = np.linalg.norm(topics, axis=1) * (np.linalg.norm(mean_topics) + 1e-12) + 1e-12
            column["topic_agreement"][:] = topics @ mean_topics / norms
        if topics.shape[1] and profile.chosen_topics.size and profile.chosen_topics.any():
            column["chosen_topic_max"][:] = topics[:, profile.chosen_topics.astype(bool)].max(
                axis=1
            )
        column["genericness"][:] = X @ self.mean_
        column["age_days"][:] = candidates.age_days
        return out

    def _liked_features(
        self, column: dict, X: np.ndarray, profile: ProfileArrays, radius: np.ndarray
    ) -> None:
        liked = profile.liked
        sims = X @ liked.T  # (n, n_liked)
        centroid = liked.mean(axis=0)
        direction = self.precision_ @ (centroid - self.mean_)
        direction /= np.linalg.norm(direction) + 1e-12
        column["sim_max"][:] = sims.max(axis=1)
        column["sim_mean"][:] = sims.mean(axis=1)
        column["sim_top3"][:] = np.sort(sims, axis=1)[:, -min(TOP_K, sims.shape[1]) :].mean(axis=1)
        column["sim_centroid"][:] = X @ (centroid / (np.linalg.norm(centroid) + 1e-12))
        column["sim_decayed"][:] = sims @ profile.liked_weights
        column["whitened"][:] = X @ direction
        column["liked_in_neighbourhood"][:] = (sims >= radius[:, None]).sum(axis=1)
        column["log_profile_size"][:] = np.log1p(len(liked))
        column["z_centroid"][:] = _zscore(column["sim_centroid"])
        column["z_whitened"][:] = _zscore(column["whitened"])


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
