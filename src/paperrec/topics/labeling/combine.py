"""Combine votes into weak labels: one label model per topic, majority vote beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paperrec.topics.labeling.functions import LabelingFunction, lfs_by_topic
from paperrec.topics.labeling.model import LabelModel, MajorityVote


@dataclass
class WeakLabels:
    """Per-topic probabilities from the label model and from majority vote.

    ``probabilities`` and ``majority`` are (n_papers, n_topics) P(on topic);
    ``learned_accuracy`` is (n_lfs,) in the column order of L.
    """

    topics: tuple[str, ...]
    probabilities: np.ndarray
    majority: np.ndarray
    learned_accuracy: np.ndarray
    models: dict[str, LabelModel]

    def labels(self, threshold: float = 0.5) -> np.ndarray:
        return (self.probabilities > threshold).astype(np.int8)


def combine(
    L: np.ndarray,
    lfs: Sequence[LabelingFunction],
    topics: Sequence[str],
    anchor_accuracy: float | None = 0.98,
    **model_params,
) -> WeakLabels:
    """Fit one LabelModel per topic on that topic's columns of L (n_papers, n_lfs).

    Functions that read arXiv categories are anchors with ``anchor_accuracy`` (None:
    learn their accuracy like any other function's).
    """
    columns = lfs_by_topic(lfs, topics)
    probabilities = np.zeros((len(L), len(topics)))
    accuracy = np.full(len(lfs), np.nan)
    models: dict[str, LabelModel] = {}
    for t, topic in enumerate(topics):
        cols = columns[topic]
        if not cols:
            continue
        votes = L[:, cols]
        anchors = None
        if anchor_accuracy is not None:
            anchors = {k: anchor_accuracy for k, j in enumerate(cols) if lfs[j].uses_categories}
        model = LabelModel(anchors=anchors, **model_params).fit(votes)
        models[topic] = model
        probabilities[:, t] = model.predict_proba(votes)[:, 1]
        accuracy[cols] = model.lf_accuracies_
    majority = majority_vote(L, lfs, topics)
    return WeakLabels(tuple(topics), probabilities, majority, accuracy, models)


def majority_vote(
    L: np.ndarray, lfs: Sequence[LabelingFunction], topics: Sequence[str]
) -> np.ndarray:
    """(n_papers, n_topics) majority-vote P(on topic), without fitting anything."""
    columns = lfs_by_topic(lfs, topics)
    out = np.zeros((len(L), len(topics)))
    for t, topic in enumerate(topics):
        if columns[topic]:
            out[:, t] = MajorityVote().predict_proba(L[:, columns[topic]])[:, 1]
    return out
