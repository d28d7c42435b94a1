"""The methods paperrec's ranker is measured against, reimplemented from their sources.

- ``asl_svm``: arxiv-sanity-lite (``compute.py``, ``serve.py``): TF-IDF over the papers in
  its database (1-2 grams, sublinear tf, English stop words, min_df 5, max_df 0.5), a
  LinearSVC (C=0.1, balanced classes) with the user's papers positive and every other
  paper negative, candidates ranked by the SVM's decision value. Here "the database" is
  the profile plus the candidates being ranked.
- ``zotero``: zotero-arxiv-daily: the mean cosine similarity to the user's papers, each
  weighted 1 / (1 + log10(rank + 1)) with rank 0 for the newest paper.
- ``centroid``: cosine similarity to the mean of the user's paper embeddings.
- ``max_similarity``: cosine similarity to the user's nearest paper ("more like this").
- ``tfidf``: arxiv-sanity-lite's TF-IDF vectors without the SVM: cosine similarity to the
  mean of the user's papers' vectors.
Each takes the liked papers' texts or vectors in the order newest first and returns one
score per candidate, higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC


def _asl_tfidf(texts: Sequence[str]):
    """arxiv-sanity-lite's TF-IDF (``compute.py``) fitted on ``texts``: (n, vocabulary)."""
    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20_000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.5,
        min_df=min(5, len(texts)),
    ).fit_transform(texts)


def asl_features(liked_texts: Sequence[str], candidate_texts: Sequence[str]):
    """arxiv-sanity-lite's TF-IDF fitted on the liked papers and the candidates together:
    (n_liked + n_candidates, vocabulary), liked rows first. ``asl_svm`` and ``tfidf`` both
    start from it, so an evaluation scoring both computes it once per query."""
    return _asl_tfidf([*liked_texts, *candidate_texts])


def asl_svm_scores(features, n_liked: int, C: float = 0.1) -> np.ndarray:
    """``asl_svm`` on ``asl_features`` already computed (the first ``n_liked`` rows liked)."""
    labels = np.r_[np.ones(n_liked), np.zeros(features.shape[0] - n_liked)]
    svm = LinearSVC(class_weight="balanced", max_iter=10_000, tol=1e-6, C=C).fit(features, labels)
    return svm.decision_function(features[n_liked:])


def asl_svm(
    liked_texts: Sequence[str], candidate_texts: Sequence[str], C: float = 0.1
) -> np.ndarray:
    liked_texts = list(liked_texts)
    return asl_svm_scores(asl_features(liked_texts, candidate_texts), len(liked_texts), C)


def zotero_weights(n: int) -> np.ndarray:
    """zotero-arxiv-daily's weights for n papers, newest first."""
    return 1.0 / (1.0 + np.log10(np.arange(n) + 1.0))


def zotero(liked: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    weights = zotero_weights(len(liked))
    return (candidates @ liked.T) @ weights / weights.sum()


def centroid(liked: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    mean = liked.mean(axis=0)
    return candidates @ (mean / (np.linalg.norm(mean) + 1e-12))


def tfidf_scores(features, n_liked: int) -> np.ndarray:
    """``tfidf`` on ``asl_features`` already computed (the first ``n_liked`` rows liked)."""
    mean = np.asarray(features[:n_liked].mean(axis=0)).ravel()
    mean /= np.linalg.norm(mean) + 1e-12
    return features[n_liked:] @ mean


def tfidf(liked_texts: Sequence[str], candidate_texts: Sequence[str]) -> np.ndarray:
    liked_texts = list(liked_texts)
    return tfidf_scores(asl_features(liked_texts, candidate_texts), len(liked_texts))


def max_similarity(liked: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    return (candidates @ liked.T).max(axis=1)
