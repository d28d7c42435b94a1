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
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.svm import LinearSVC

# arxiv-sanity-lite's TF-IDF (``compute.py``): how it tokenizes, which terms it keeps, tf/idf.
ASL_TOKENS = {
    "strip_accents": "unicode",
    "lowercase": True,
    "analyzer": "word",
    "stop_words": "english",
    "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
    "ngram_range": (1, 2),
}
ASL_MAX_FEATURES, ASL_MAX_DF, ASL_MIN_DF = 20_000, 0.5, 5
ASL_WEIGHTS = {"norm": "l2", "use_idf": True, "smooth_idf": True, "sublinear_tf": True}


class AslTfidf:
    """arxiv-sanity-lite's TF-IDF fitted on any subset of ``texts``, each text tokenized
    once (here) however many subsets it is in.

    ``features(rows)`` is ``TfidfVectorizer(**ASL_TOKENS, max_features=20_000,
    max_df=0.5, min_df=min(5, n), **ASL_WEIGHTS).fit_transform`` of those n texts: the same
    vocabulary (document-frequency cuts, then the most frequent terms, ties broken as
    scikit-learn breaks them), tf and idf; a value may differ in its last bit, as the l2
    norms are summed in another order (on the tests' 1,500-paper pool slice: values within
    1e-15, SVM scores within 2e-7 of its solver's 1e-6 tolerance, the same candidate
    order). An evaluation fits it on every query's profile and candidates, hundreds of
    times over the same papers: tokenizing each time was most of a ranker's training run
    (1 s per query there, 0.02 s from here).
    """

    def __init__(self, texts: Sequence[str]):
        counts = CountVectorizer(**ASL_TOKENS).fit_transform(list(texts))
        self.counts_ = sp.csr_matrix(counts)  # (n texts, every term), terms sorted by name

    def features(self, rows: Sequence[int]) -> sp.csr_matrix:
        """(len(rows), vocabulary) TF-IDF of the texts at ``rows``, fitted on them alone."""
        counts = self.counts_[np.asarray(rows, dtype=np.intp)]
        n = counts.shape[0]
        most, least = ASL_MAX_DF * n, min(ASL_MIN_DF, n)
        if most < least:
            raise ValueError("max_df corresponds to < documents than min_df")
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        present = np.flatnonzero(df)
        counts, df = counts[:, present], df[present]
        keep = (df <= most) & (df >= least)
        if keep.sum() > ASL_MAX_FEATURES:  # the most frequent, as TfidfVectorizer chooses
            frequency = np.asarray(counts.sum(axis=0)).ravel()
            top = np.flatnonzero(keep)[(-frequency[keep]).argsort()[:ASL_MAX_FEATURES]]
            keep = np.zeros_like(keep)
            keep[top] = True
        if not keep.any():
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        return TfidfTransformer(**ASL_WEIGHTS).fit_transform(counts[:, np.flatnonzero(keep)])


def asl_features(liked_texts: Sequence[str], candidate_texts: Sequence[str]) -> sp.csr_matrix:
    """arxiv-sanity-lite's TF-IDF fitted on the liked papers and the candidates together:
    (n_liked + n_candidates, vocabulary), liked rows first. ``asl_svm`` and ``tfidf`` both
    start from it; an evaluation takes it from one `AslTfidf` of all its papers."""
    texts = [*liked_texts, *candidate_texts]
    return AslTfidf(texts).features(np.arange(len(texts)))


def asl_svm_scores(features, n_liked: int, C: float = 0.1) -> np.ndarray:
    """``asl_svm`` on ``asl_features`` already computed (the first ``n_liked`` rows liked)."""
    labels = np.r_[np.ones(n_liked), np.zeros(features.shape[0] - n_liked)]
    # a fixed seed: liblinear otherwise draws one from NumPy's global state, and the same
    # profile could rank near-ties differently from one call to the next
    svm = LinearSVC(class_weight="balanced", max_iter=10_000, tol=1e-6, C=C, random_state=0)
    svm.fit(features, labels)
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
