"""Features of (profile, candidate) pairs, computed from embeddings, words, authors and
topic probabilities.

Everything here takes arrays. A profile is the user's liked papers (with how recent each
is), disliked papers, the liked papers' authors and topic probabilities, and the topics
the user chose. Every feature of a candidate depends on the profile and that candidate
alone, never on the other candidates, so a list of 8 is ranked like the same 8 inside a
list of 2,000.

``ProfileFeaturizer`` is fitted once on the corpus. It learns the background the
"whitened centroid" is measured against (the direction from the average paper to the
user's papers, with directions every paper varies along shrunk), keeps a fixed sample of
corpus papers to say how unusual a similarity is *for this profile* (``bg_*``: standard
scores against the sample), and which words are rare enough that sharing one means
something (``lex_rare_max``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from paperrec.recommend import baselines

FEATURE_NAMES = (
    "sim_max",
    "sim_mean",
    "sim_top3",
    "sim_centroid",
    "sim_decayed",
    "sim_zotero",
    "whitened",
    "nearest_recency",
    "bg_max",
    "bg_centroid",
    "bg_whitened",
    "bg_lex",
    "lex_centroid",
    "lex_max",
    "lex_rare_max",
    "lex_dis_max",
    "author_share",
    "author_hits",
    "dis_max",
    "dis_mean",
    "like_minus_dislike",
    "topic_agreement",
    "chosen_topic_max",
    "genericness",
    "log_profile_size",
    "prior",
)
PRIOR_FEATURE = "prior"
# The prior the learned ranker starts from (LightGBM init_score): how unusual the
# candidate's nearest-liked similarity and its word overlap are for this profile, in
# standard deviations of the background sample. The trees learn corrections on top.
# A candidate nearer to a disliked paper than to any liked one loses that excess, counted
# in background standard deviations of sim_max: the training users rarely dislike
# anything, so the trees alone would leave a disliked paper's near copy at the top.
PRIOR_LEXICAL_WEIGHT = 0.5
TOP_K = 3
BACKGROUND_SIZE = 512  # corpus papers kept to standardise similarities per profile
RARE_DOCUMENT_SHARE = 0.002  # a word in at most this share of corpus papers is rare


@dataclass(frozen=True)
class ProfileArrays:
    """A user profile as arrays.

    liked : (n_liked, dim) unit vectors.
    liked_weights : (n_liked,) recency weights summing to 1 (uniform when times are unknown).
    disliked : (n_disliked, dim) unit vectors, possibly (0, dim).
    liked_topics : (n_liked, n_topics) topic probabilities, possibly (n_liked, 0).
    liked_lexical, disliked_lexical : sparse TF-IDF rows of the liked and disliked papers.
    chosen_topics : (n_topics,) 0/1 indicator of topics the user picked, possibly (0,).
    liked_authors : author name -> number of liked papers they wrote (names the profile's
        owner should not be matched on are left out by whoever builds it).
    """

    liked: np.ndarray
    liked_weights: np.ndarray
    disliked: np.ndarray
    liked_topics: np.ndarray
    liked_lexical: sp.csr_matrix
    disliked_lexical: sp.csr_matrix
    chosen_topics: np.ndarray = field(default_factory=lambda: np.zeros(0))
    liked_authors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateArrays:
    """Candidates as arrays: X (n, dim) unit vectors, lexical (n, vocabulary) sparse TF-IDF,
    topics (n, n_topics) probabilities (possibly (n, 0)), authors: one tuple of names per
    candidate (empty when unknown)."""

    X: np.ndarray
    lexical: sp.csr_matrix
    topics: np.ndarray
    authors: tuple[tuple[str, ...], ...] = ()

    def __len__(self) -> int:
        return len(self.X)

    @cached_property
    def lexical_by_term(self) -> sp.csr_matrix:
        """``lexical`` transposed, (vocabulary, n) CSR, built once per candidate set: a
        profile's TF-IDF rows multiply it several times faster than the other way round."""
        return sp.csr_matrix(self.lexical.T)

    @cached_property
    def author_index(self) -> tuple[dict[str, int], sp.csr_matrix]:
        """(name -> column, (names, n) 0/1 matrix of who wrote which candidate), built once
        per candidate set."""
        columns: dict[str, int] = {}
        rows, cols = [], []
        for j, names in enumerate(self.authors):
            for name in set(names):
                rows.append(columns.setdefault(name, len(columns)))
                cols.append(j)
        matrix = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(columns), len(self.X))
        )
        return columns, matrix


def recency_weights(liked_age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """Weights halving every ``half_life_days`` of like age; uniform when ages are unknown."""
    ages = np.asarray(liked_age_days, dtype=float)
    if len(ages) == 0:
        return ages
    ages = np.where(np.isnan(ages), np.nanmedian(ages) if not np.isnan(ages).all() else 0.0, ages)
    weights = 0.5 ** (np.maximum(ages, 0) / half_life_days)
    return weights / weights.sum()


def zotero_weights(liked_weights: np.ndarray) -> np.ndarray:
    """zotero-arxiv-daily's weights, 1 / (1 + log10(rank + 1)) with rank 0 for the newest
    liked paper (order by recency weight; ties keep the profile's order, newest first),
    normalised to sum to 1."""
    order = np.argsort(-np.asarray(liked_weights), kind="stable")
    weights = np.empty(len(order))
    weights[order] = baselines.zotero_weights(len(order))
    return weights / weights.sum()


def _standardise(values: np.ndarray, background: np.ndarray) -> np.ndarray:
    return (values - background.mean()) / (background.std() + 1e-6)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


class ProfileFeaturizer:
    """Learns the corpus background; turns (profile, candidates) into a feature matrix.

    Parameters
    ----------
    shrinkage : weight of the identity in the shrunk corpus covariance (0: full
        whitening, 1: none).
    background_size : corpus papers sampled to standardise similarities per profile.
    random_state : seed of that sample.
    """

    def __init__(
        self, shrinkage: float = 0.5, background_size: int = BACKGROUND_SIZE, random_state=0
    ):
        self.shrinkage = shrinkage
        self.background_size = background_size
        self.random_state = random_state

    def fit(self, X: np.ndarray, lexical: sp.csr_matrix | None = None) -> ProfileFeaturizer:
        """Learn from the corpus: X (n_papers, dim) unit vectors and, if given, their
        TF-IDF rows (n_papers, vocabulary) for the lexical background and rare words."""
        X64 = np.asarray(X, dtype=np.float64)
        mean = X64.mean(axis=0)
        cov = np.cov(X64, rowvar=False)
        target = np.trace(cov) / len(cov) * np.eye(len(cov))
        self.precision_ = np.linalg.inv(
            (1 - self.shrinkage) * cov + self.shrinkage * target
        ).astype(np.float32)
        self.mean_ = mean.astype(np.float32)
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(len(X), min(self.background_size, len(X)), replace=False))
        self.background_ = np.asarray(X, dtype=np.float32)[sample]
        if lexical is not None:
            lexical = sp.csr_matrix(lexical)
            self.background_lexical_ = lexical[sample]
            document_frequency = np.bincount(lexical.indices, minlength=lexical.shape[1])
            rare = document_frequency <= max(2, RARE_DOCUMENT_SHARE * lexical.shape[0])
            self.rare_terms_ = sp.diags(rare.astype(np.float32)).tocsr()
        else:
            self.background_lexical_ = None
            self.rare_terms_ = None
        return self

    def transform(self, profile: ProfileArrays, candidates: CandidateArrays) -> np.ndarray:
        """Features (n_candidates, len(FEATURE_NAMES)) for one profile; NaN where a feature
        does not apply (no disliked papers, no topics, no authors)."""
        X = candidates.X
        out = np.full((len(X), len(FEATURE_NAMES)), np.nan, dtype=np.float32)
        column = {name: out[:, i] for i, name in enumerate(FEATURE_NAMES)}
        if len(profile.liked):
            self._liked_features(column, X, profile)
            self._lexical_features(column, profile, candidates)
            self._author_features(column, profile, candidates)
            column[PRIOR_FEATURE][:] = column["bg_max"] + PRIOR_LEXICAL_WEIGHT * np.nan_to_num(
                column["bg_lex"]
            )
        if len(profile.disliked):
            self._disliked_features(column, X, profile, candidates)
        column["like_minus_dislike"][:] = np.nan_to_num(column["sim_max"]) - np.nan_to_num(
            column["dis_max"]
        )
        self._topic_features(column, profile, candidates.topics)
        column["genericness"][:] = X @ self.mean_
        return out

    def _liked_features(self, column: dict, X: np.ndarray, profile: ProfileArrays) -> None:
        liked = profile.liked
        sims = X @ liked.T  # (n, n_liked)
        background = self.background_ @ liked.T  # (n_background, n_liked)
        centroid = liked.mean(axis=0)
        centroid /= np.linalg.norm(centroid) + 1e-12
        direction = self.precision_ @ (centroid - self.mean_)
        direction /= np.linalg.norm(direction) + 1e-12
        recency = profile.liked_weights / (profile.liked_weights.max() + 1e-12)
        column["sim_max"][:] = sims.max(axis=1)
        column["sim_mean"][:] = sims.mean(axis=1)
        column["sim_top3"][:] = np.sort(sims, axis=1)[:, -min(TOP_K, sims.shape[1]) :].mean(axis=1)
        column["sim_centroid"][:] = X @ centroid
        column["sim_decayed"][:] = sims @ profile.liked_weights
        column["sim_zotero"][:] = sims @ zotero_weights(profile.liked_weights)
        column["whitened"][:] = X @ direction
        column["nearest_recency"][:] = recency[sims.argmax(axis=1)]
        column["bg_max"][:] = _standardise(column["sim_max"], background.max(axis=1))
        column["bg_centroid"][:] = _standardise(column["sim_centroid"], self.background_ @ centroid)
        column["bg_whitened"][:] = _standardise(column["whitened"], self.background_ @ direction)
        column["log_profile_size"][:] = np.log1p(len(liked))

    def _lexical_features(
        self, column: dict, profile: ProfileArrays, candidates: CandidateArrays
    ) -> None:
        lexical = _dense(profile.liked_lexical @ candidates.lexical_by_term).T  # (n, n_liked)
        column["lex_max"][:] = lexical.max(axis=1)
        column["lex_centroid"][:] = lexical.mean(axis=1)
        if self.background_lexical_ is not None:
            background = _dense(self.background_lexical_ @ profile.liked_lexical.T)
            column["bg_lex"][:] = _standardise(column["lex_centroid"], background.mean(axis=1))
            rare = _dense((profile.liked_lexical @ self.rare_terms_) @ candidates.lexical_by_term)
            column["lex_rare_max"][:] = rare.max(axis=0)

    def _author_features(
        self, column: dict, profile: ProfileArrays, candidates: CandidateArrays
    ) -> None:
        if not profile.liked_authors or not candidates.authors:
            return
        columns, matrix = candidates.author_index
        if not columns:
            return
        share = np.zeros(len(columns), np.float32)
        for name, count in profile.liked_authors.items():
            if name in columns:
                share[columns[name]] = count / len(profile.liked)
        written = matrix.multiply(share[:, None]).tocsc()
        column["author_share"][:] = written.max(axis=0).toarray().ravel()
        column["author_hits"][:] = np.asarray((written > 0).sum(axis=0)).ravel()
        unknown = np.array([not names for names in candidates.authors])
        column["author_share"][unknown] = np.nan
        column["author_hits"][unknown] = np.nan

    def _disliked_features(
        self, column: dict, X: np.ndarray, profile: ProfileArrays, candidates: CandidateArrays
    ) -> None:
        dis = X @ profile.disliked.T
        column["dis_max"][:] = dis.max(axis=1)
        column["dis_mean"][:] = dis.mean(axis=1)
        lexical_dis = _dense(profile.disliked_lexical @ candidates.lexical_by_term)
        column["lex_dis_max"][:] = lexical_dis.max(axis=0)
        if len(profile.liked):
            excess = np.maximum(column["dis_max"] - column["sim_max"], 0.0)
            background = (self.background_ @ profile.liked.T).max(axis=1)
            column[PRIOR_FEATURE][:] -= excess / (background.std() + 1e-6)

    def _topic_features(self, column: dict, profile: ProfileArrays, topics: np.ndarray) -> None:
        if topics.shape[1] and profile.liked_topics.shape[0] and profile.liked_topics.shape[1]:
            mean_topics = profile.liked_topics.mean(axis=0)
            norms = np.linalg.norm(topics, axis=1) * (np.linalg.norm(mean_topics) + 1e-12) + 1e-12
            column["topic_agreement"][:] = topics @ mean_topics / norms
        if topics.shape[1] and profile.chosen_topics.size and profile.chosen_topics.any():
            column["chosen_topic_max"][:] = topics[:, profile.chosen_topics.astype(bool)].max(
                axis=1
            )
