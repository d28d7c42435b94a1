"""LexicalEncoder: TF-IDF vectors of title + abstract, the word-level view beside embeddings.

MiniLM reads at most 256 tokens and blurs rare technical terms; exact term overlap
("speculative decoding", "BEV") is what TF-IDF keeps. The recommender uses both. The
vectoriser is fitted once on the corpus and saved with the ranker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from paperrec.schema import Paper


class LexicalEncoder:
    """TF-IDF over 1-2 word grams with sublinear term frequency, L2-normalised rows.

    Parameters
    ----------
    max_features : vocabulary size.
    min_df : minimum document frequency of a kept term.
    max_df : maximum document share of a kept term (drops boilerplate words).
    """

    def __init__(self, max_features: int = 50_000, min_df: int = 2, max_df: float = 0.5):
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df

    def _vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            strip_accents="unicode",
            lowercase=True,
            stop_words="english",
            token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_\-]+\b",
            ngram_range=(1, 2),
            max_features=self.max_features,
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=True,
            dtype=np.float32,
        )

    def fit(self, papers: Sequence[Paper]) -> LexicalEncoder:
        self.vectorizer_ = self._vectorizer().fit(p.text for p in papers)
        return self

    def transform(self, papers: Sequence[Paper]) -> sp.csr_matrix:
        """(n_papers, vocabulary) sparse TF-IDF rows of unit length."""
        if not papers:
            return sp.csr_matrix((0, len(self.vectorizer_.vocabulary_)), dtype=np.float32)
        return self.vectorizer_.transform([p.text for p in papers]).tocsr()

    @property
    def vocabulary_size(self) -> int:
        return len(self.vectorizer_.vocabulary_)
