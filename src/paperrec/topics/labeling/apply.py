"""Apply labeling functions: papers + embeddings -> label matrix L (n_papers, n_lfs).

``ViewBuilder`` turns papers into the `PaperView`s labeling functions read: keyword hit
counts per topic, and the similarity of each paper's embedding to each topic description,
standardised with the mean and spread seen on the corpus it was fitted on (so "unusually
close" means the same thing at training and at evaluation time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperrec.schema import Paper
from paperrec.topics.labeling.functions import ABSTAIN, LabelingFunction, PaperView
from paperrec.topics.labeling.keywords import KeywordMatcher
from paperrec.topics.taxonomy import Taxonomy


def _level_ranks(similarity: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Rank (0 = nearest) of each topic among the topics of its level, per paper."""
    ranks = np.zeros_like(similarity, dtype=np.int32)
    for columns in groups:
        order = np.argsort(-similarity[:, columns], axis=1)
        ranks[:, columns] = np.argsort(order, axis=1)
    return ranks


class ViewBuilder:
    """Builds PaperViews for a taxonomy.

    Parameters
    ----------
    taxonomy : the topics.
    topic_vectors : float32 (n_topics, dim) embeddings of the topic descriptions.
    """

    def __init__(self, taxonomy: Taxonomy, topic_vectors: np.ndarray):
        self.taxonomy = taxonomy
        self.topic_vectors = np.asarray(topic_vectors, dtype=np.float32)
        topics = taxonomy.topics
        self.matcher = KeywordMatcher(
            {i: t.keywords for i, t in enumerate(topics)},
            {i: t.patterns for i, t in enumerate(topics)},
            len(topics),
        )
        self.groups = [
            np.array([i for i, t in enumerate(topics) if t.is_area]),
            np.array([i for i, t in enumerate(topics) if not t.is_area]),
        ]
        self.groups = [g for g in self.groups if len(g)]

    @classmethod
    def from_stats(
        cls, taxonomy: Taxonomy, topic_vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray
    ) -> ViewBuilder:
        """A builder with similarity statistics learned earlier (saved with a topic model)."""
        builder = cls(taxonomy, topic_vectors)
        builder.mean_, builder.scale_ = np.asarray(mean), np.asarray(scale)
        return builder

    def fit(self, X: np.ndarray) -> ViewBuilder:
        """Learn the mean and spread of description similarity over the corpus ``X`` (n, dim)."""
        similarity = X @ self.topic_vectors.T
        self.mean_ = similarity.mean(axis=0)
        self.scale_ = similarity.std(axis=0) + 1e-6
        return self

    def similarity_z(self, X: np.ndarray) -> np.ndarray:
        """(n, n_topics) standardised similarity of each paper to each topic description."""
        return (X @ self.topic_vectors.T - self.mean_) / self.scale_

    def build(
        self, papers: Sequence[Paper], X: np.ndarray, *, use_categories: bool = True
    ) -> list[PaperView]:
        z = self.similarity_z(X)
        ranks = _level_ranks(z, self.groups)
        titles = self.matcher.count_many(p.title for p in papers)
        abstracts = self.matcher.count_many(p.abstract for p in papers)
        return [
            PaperView(
                title=p.title,
                abstract=p.abstract,
                categories=p.categories if use_categories else (),
                keyword_title=titles[i],
                keyword_abstract=abstracts[i],
                similarity_z=z[i],
                similarity_rank=ranks[i],
            )
            for i, p in enumerate(papers)
        ]


def apply_lfs(lfs: Sequence[LabelingFunction], views: Sequence[PaperView]) -> np.ndarray:
    """Label matrix (n_papers, n_lfs) of int8 votes in {-1, 0, 1}."""
    L = np.full((len(views), len(lfs)), ABSTAIN, dtype=np.int8)
    for j, lf in enumerate(lfs):
        func = lf.func  # the plain function: no wrapper call per paper
        L[:, j] = [func(view) for view in views]
    return L
