"""A corpus as arrays, for building training and evaluation queries by paper index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from paperrec.recommend.features import CandidateArrays, ProfileArrays
from paperrec.schema import Paper


@dataclass
class Corpus:
    """Arrays for every corpus paper: X (n, dim), lexical (n, vocab), topics (n, n_topics)."""

    papers: list[Paper]
    X: np.ndarray
    lexical: sp.csr_matrix
    topics: np.ndarray
    background: np.ndarray  # indices of papers used as random negatives (not seed pages)

    def profile(self, liked: np.ndarray, disliked: np.ndarray) -> ProfileArrays:
        return ProfileArrays(
            liked=self.X[liked],
            liked_weights=np.full(len(liked), 1 / max(len(liked), 1)),
            disliked=self.X[disliked],
            liked_topics=self.topics[liked],
            liked_lexical=self.lexical[liked],
            disliked_lexical=self.lexical[disliked],
        )

    def candidates(self, indices: np.ndarray, with_dates: bool = True) -> CandidateArrays:
        ages = np.full(len(indices), np.nan, dtype=np.float32)
        if with_dates:
            dates = [self.papers[i].date for i in indices]
            known = [d for d in dates if d]
            if known:
                newest = max(known)
                ages = np.array(
                    [(newest - d).days if d else np.nan for d in dates], dtype=np.float32
                )
        return CandidateArrays(self.X[indices], self.lexical[indices], self.topics[indices], ages)
