"""A corpus as arrays, for building training and evaluation queries by paper index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from paperrec.recommend.features import CandidateArrays, ProfileArrays, recency_weights
from paperrec.schema import Paper

LIKE_HALF_LIFE_DAYS = 180.0  # a liked paper's weight halves every this many days


def liked_authors(papers: Sequence[Paper], hidden: Sequence[str] = ()) -> Counter:
    """Author name -> number of ``papers`` they wrote, without the ``hidden`` names."""
    counts = Counter(name for paper in papers for name in set(paper.authors))
    for name in hidden:
        counts.pop(name, None)
    return counts


def paper_ages(papers: Sequence[Paper]) -> np.ndarray:
    """Days from each paper's date to the newest one's (NaN where a date is unknown)."""
    known = [p.date for p in papers if p.date is not None]
    if not known:
        return np.full(len(papers), np.nan)
    newest = max(known)
    return np.array([(newest - p.date).days if p.date else np.nan for p in papers], dtype=float)


@dataclass
class Corpus:
    """Arrays for every corpus paper: X (n, dim), lexical (n, vocab), topics (n, n_topics)."""

    papers: list[Paper]
    X: np.ndarray
    lexical: sp.csr_matrix
    topics: np.ndarray
    background: np.ndarray  # indices of papers used as random negatives (not seed pages)

    def profile(
        self,
        liked: np.ndarray,
        disliked: np.ndarray,
        hidden_authors: Sequence[str] = (),
        with_authors: bool = True,
    ) -> ProfileArrays:
        """The profile of liked and disliked corpus papers, recency from the liked papers'
        dates; author features see every liked author but ``hidden_authors``."""
        liked_papers = [self.papers[i] for i in liked]
        return ProfileArrays(
            liked=self.X[liked],
            liked_weights=recency_weights(paper_ages(liked_papers), LIKE_HALF_LIFE_DAYS),
            disliked=self.X[disliked],
            liked_topics=self.topics[liked],
            liked_lexical=self.lexical[liked],
            disliked_lexical=self.lexical[disliked],
            liked_authors=liked_authors(liked_papers, hidden_authors) if with_authors else {},
        )

    def candidates(self, indices: np.ndarray, with_authors: bool = True) -> CandidateArrays:
        authors = tuple(self.papers[i].authors for i in indices) if with_authors else ()
        return CandidateArrays(
            self.X[indices], self.lexical[indices], self.topics[indices], authors
        )
