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

from collections.abc import Mapping, Sequence
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
    def author_index(self) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(name -> number, the number of every (candidate, author) pair's author, and its
        candidate), built once per candidate set."""
        numbers: dict[str, int] = {}
        names: list[int] = []
        owners: list[int] = []
        for candidate, authors in enumerate(self.authors):
            for name in dict.fromkeys(authors):
                names.append(numbers.setdefault(name, len(numbers)))
                owners.append(candidate)
        return numbers, np.array(names, dtype=np.intp), np.array(owners, dtype=np.intp)

    @cached_property
    def without_authors(self) -> np.ndarray:
        """(n,) True where a candidate's authors are unknown."""
        return np.array([not names for names in self.authors], dtype=bool)


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


def _standardise_rows(values: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Each row of ``values`` (P, n) in standard scores of the same row of ``background``
    (P, n_background)."""
    mean = background.mean(axis=1, keepdims=True)
    return (values - mean) / (background.std(axis=1, keepdims=True) + 1e-6)


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
        return self.transform_many([profile], candidates)

    def transform_many(
        self, profiles: Sequence[ProfileArrays], candidates: CandidateArrays
    ) -> np.ndarray:
        """Features of many profiles against one candidate set: (len(profiles) *
        n_candidates, len(FEATURE_NAMES)), profile after profile, each block what
        ``transform`` gives for that profile alone. The liked papers of all profiles are
        multiplied with the candidates at once and reduced per profile, which is several
        times faster than one profile at a time."""
        X = candidates.X
        out = np.full((len(profiles), len(X), len(FEATURE_NAMES)), np.nan, dtype=np.float32)
        column = {name: out[:, :, i] for i, name in enumerate(FEATURE_NAMES)}  # (P, n) views
        with_liked = [i for i, profile in enumerate(profiles) if len(profile.liked)]
        background_max = {}  # profile -> (n_background,) its nearest-liked similarities
        if with_liked:
            liked = _Segments([profiles[i] for i in with_liked])
            nearest = self._liked_features(column, with_liked, X, liked)
            background_max = dict(zip(with_liked, nearest, strict=True))
            self._lexical_features(column, with_liked, liked, candidates)
            self._author_features(column, with_liked, liked.profiles, candidates)
            column[PRIOR_FEATURE][with_liked] = column["bg_max"][
                with_liked
            ] + PRIOR_LEXICAL_WEIGHT * np.nan_to_num(column["bg_lex"][with_liked])
        for i, profile in enumerate(profiles):
            if len(profile.disliked):
                self._disliked_features(
                    {name: values[i] for name, values in column.items()},
                    X,
                    profile,
                    candidates,
                    background_max.get(i),
                )
        column["like_minus_dislike"][:] = np.nan_to_num(column["sim_max"]) - np.nan_to_num(
            column["dis_max"]
        )
        self._topic_features(column, profiles, candidates.topics)
        column["genericness"][:] = X @ self.mean_
        return out.reshape(-1, len(FEATURE_NAMES))

    def _liked_features(
        self, column: dict, rows: list[int], X: np.ndarray, liked: _Segments
    ) -> np.ndarray:
        """The liked-paper columns of ``rows``; returns each profile's nearest-liked
        similarity of every background paper (P, n_background)."""
        L = liked.stack("liked")  # (K, dim): every profile's liked papers, in order
        sims = L @ X.T  # (K, n): row after row of one profile's liked papers, then the next
        centroid = liked.each(np.mean, L)
        centroid /= np.linalg.norm(centroid, axis=1, keepdims=True) + 1e-12
        direction = (centroid - self.mean_) @ self.precision_.T
        direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-12
        decay = liked.concat(lambda p: p.liked_weights)[:, None]
        zotero = liked.concat(lambda p: zotero_weights(p.liked_weights))[:, None]
        sim_max = liked.each(np.max, sims)  # (P, n)
        column["sim_max"][rows] = sim_max
        column["sim_mean"][rows] = liked.each(np.mean, sims)
        column["sim_decayed"][rows] = liked.each(np.sum, sims * decay)
        column["sim_zotero"][rows] = liked.each(np.sum, sims * zotero)
        column["sim_centroid"][rows] = centroid @ X.T
        column["whitened"][rows] = direction @ X.T
        for row, profile, (start, stop) in zip(rows, liked.profiles, liked.bounds(), strict=True):
            own = sims[start:stop]  # (k, n), contiguous: reductions run along the rows
            top = min(TOP_K, stop - start)
            column["sim_top3"][row] = np.partition(own, -top, axis=0)[-top:].mean(axis=0)
            recency = profile.liked_weights / (profile.liked_weights.max() + 1e-12)
            column["nearest_recency"][row] = recency[own.argmax(axis=0)]
        background_max = liked.each(np.max, L @ self.background_.T)  # (P, n_background)
        column["bg_max"][rows] = _standardise_rows(sim_max, background_max)
        column["bg_centroid"][rows] = _standardise_rows(
            column["sim_centroid"][rows], centroid @ self.background_.T
        )
        column["bg_whitened"][rows] = _standardise_rows(
            column["whitened"][rows], direction @ self.background_.T
        )
        column["log_profile_size"][rows] = np.log1p(liked.sizes)[:, None]
        return background_max

    def _lexical_features(
        self, column: dict, rows: list[int], liked: _Segments, candidates: CandidateArrays
    ) -> None:
        L = sp.vstack([p.liked_lexical for p in liked.profiles], format="csr")
        lexical = _dense(L @ candidates.lexical_by_term)  # (K, n)
        lex_centroid = liked.each(np.mean, lexical)
        column["lex_max"][rows] = liked.each(np.max, lexical)
        column["lex_centroid"][rows] = lex_centroid
        if self.background_lexical_ is not None:
            # The mean of each profile's rows of L @ B.T is its mean row times B.T.
            background = _dense(liked.averages() @ L @ self.background_lexical_.T)
            column["bg_lex"][rows] = _standardise_rows(lex_centroid, background)
            rare = _dense((L @ self.rare_terms_) @ candidates.lexical_by_term)  # (K, n)
            column["lex_rare_max"][rows] = liked.each(np.max, rare)

    def _author_features(
        self,
        column: dict,
        rows: list[int],
        profiles: Sequence[ProfileArrays],
        candidates: CandidateArrays,
    ) -> None:
        if not candidates.authors:
            return
        numbers, names, owners = candidates.author_index
        if not numbers:
            return
        unknown = candidates.without_authors
        for row, profile in zip(rows, profiles, strict=True):
            if not profile.liked_authors:
                continue
            share = np.zeros(len(numbers), np.float32)  # of the liked papers, per author
            for name, count in profile.liked_authors.items():
                if name in numbers:
                    share[numbers[name]] = count / len(profile.liked)
            pair_share = share[names]
            hit = pair_share > 0
            best = np.zeros(len(candidates), np.float32)
            np.maximum.at(best, owners[hit], pair_share[hit])
            hits = np.bincount(owners[hit], minlength=len(candidates)).astype(np.float32)
            best[unknown], hits[unknown] = np.nan, np.nan
            column["author_share"][row] = best
            column["author_hits"][row] = hits

    def _disliked_features(
        self,
        column: dict,
        X: np.ndarray,
        profile: ProfileArrays,
        candidates: CandidateArrays,
        background_max: np.ndarray | None,
    ) -> None:
        """The disliked-paper columns of one profile; ``background_max`` is its
        nearest-liked similarity of every background paper (None without liked papers)."""
        dis = X @ profile.disliked.T
        column["dis_max"][:] = dis.max(axis=1)
        column["dis_mean"][:] = dis.mean(axis=1)
        lexical_dis = _dense(profile.disliked_lexical @ candidates.lexical_by_term)
        column["lex_dis_max"][:] = lexical_dis.max(axis=0)
        if background_max is not None:
            excess = np.maximum(column["dis_max"] - column["sim_max"], 0.0)
            column[PRIOR_FEATURE][:] -= excess / (background_max.std() + 1e-6)

    def _topic_features(
        self, column: dict, profiles: Sequence[ProfileArrays], topics: np.ndarray
    ) -> None:
        if not topics.shape[1]:
            return
        for row, profile in enumerate(profiles):
            if profile.liked_topics.shape[0] and profile.liked_topics.shape[1]:
                mean_topics = profile.liked_topics.mean(axis=0)
                norms = (
                    np.linalg.norm(topics, axis=1) * (np.linalg.norm(mean_topics) + 1e-12) + 1e-12
                )
                column["topic_agreement"][row] = topics @ mean_topics / norms
            if profile.chosen_topics.size and profile.chosen_topics.any():
                chosen = topics[:, profile.chosen_topics.astype(bool)]
                column["chosen_topic_max"][row] = chosen.max(axis=1)


class _Segments:
    """The liked papers of several profiles stacked in one array, profile after profile:
    ``starts`` and ``sizes`` say where each profile's rows are."""

    def __init__(self, profiles: Sequence[ProfileArrays]):
        self.profiles = profiles
        self.sizes = np.array([len(p.liked) for p in profiles])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def stack(self, name: str) -> np.ndarray:
        return np.vstack([getattr(p, name) for p in self.profiles])

    def concat(self, values) -> np.ndarray:
        return np.concatenate([values(p) for p in self.profiles]).astype(np.float32)

    def each(self, reduce, values: np.ndarray) -> np.ndarray:
        """(P, ...): ``reduce`` over each profile's rows of ``values`` (K, ...). A loop over
        contiguous slices; ``np.ufunc.reduceat`` is several times slower here."""
        return np.stack([reduce(values[a:b], axis=0) for a, b in self.bounds()])

    def averages(self) -> sp.csr_matrix:
        """(P, K) sparse: each profile's row averages its own rows of a (K, ...) array."""
        owners = np.repeat(np.arange(len(self.sizes)), self.sizes)
        weights = np.repeat(1.0 / np.maximum(self.sizes, 1), self.sizes).astype(np.float32)
        shape = (len(self.sizes), int(self.sizes.sum()))
        return sp.csr_matrix((weights, (owners, np.arange(shape[1]))), shape=shape)

    def bounds(self) -> list[tuple[int, int]]:
        return [(int(a), int(a + n)) for a, n in zip(self.starts, self.sizes, strict=True)]
