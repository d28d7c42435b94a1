"""Combine votes into weak labels: one label model per topic, majority vote beside it.

Which of the two becomes a topic's training label depends on whether the topic has an
anchor (a function reading arXiv categories). With an anchor the label model learns the
other functions' accuracies against it. Without one (the fine ML topics: two keyword
functions and one similarity function) Dawid-Skene has three correlated voters and
nothing to pin the latent class: it learns to trust a lone positive vote and labels about
twice as many papers as majority vote does (pretraining 8.8 % against 4.2 % of the pools,
evaluation 26 % against 12 %). On the 320 judged dev papers (`evaluate/gold`) those labels
reach fine-topic macro-F1 0.526 against majority vote's 0.585, and a classifier trained on
them 0.515 against 0.548 for one trained on majority vote. ``unanchored="majority"`` trains
on majority vote; it is not the default, because majority vote's sparser labels left 2 of
the 335 seed abstracts without any fine topic in the small test installation
(tests/test_train_topics.py), where the label model's labels leave none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from paperrec.topics.labeling.functions import POSITIVE, LabelingFunction, lfs_by_topic
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
    unanchored: Literal["majority", "label_model"] = "label_model",
    **model_params,
) -> WeakLabels:
    """Fit one LabelModel per topic on that topic's columns of L (n_papers, n_lfs).

    Functions that read arXiv categories are anchors with ``anchor_accuracy`` (None:
    learn their accuracy like any other function's). ``probabilities`` come from the label
    model for topics with an anchor; for topics without one, from ``unanchored``: the label
    model (the default) or majority vote.
    """
    if unanchored not in ("majority", "label_model"):
        raise ValueError(f"unanchored must be 'majority' or 'label_model', not {unanchored!r}")
    columns = lfs_by_topic(lfs, topics)
    probabilities = np.zeros((len(L), len(topics)))
    accuracy = np.full(len(lfs), np.nan)
    models: dict[str, LabelModel] = {}
    for t, topic in enumerate(topics):
        cols = columns[topic]
        if not cols:
            continue
        votes = L[:, cols]
        anchored = [k for k, j in enumerate(cols) if lfs[j].uses_categories]
        anchors = None
        if anchor_accuracy is not None:
            anchors = dict.fromkeys(anchored, anchor_accuracy)
        model = LabelModel(anchors=anchors, **model_params).fit(votes)
        models[topic] = model
        accuracy[cols] = model.lf_accuracies_
        if anchored or unanchored == "label_model":
            probabilities[:, t] = model.predict_proba(votes)[:, 1]
        else:
            probabilities[:, t] = MajorityVote().predict_proba(votes)[:, 1]
    majority = majority_vote(L, lfs, topics)
    return WeakLabels(tuple(topics), probabilities, majority, accuracy, models)


def with_anchor_positives(
    labels: np.ndarray,
    L: np.ndarray,
    lfs: Sequence[LabelingFunction],
    topics: Sequence[str],
) -> np.ndarray:
    """0/1 ``labels`` (n_papers, n_topics) with every positive vote of an anchor (a function
    that reads arXiv categories) made a positive label of its topic.

    An area is defined by its categories, but the label model keeps only part of a rare
    area's listed papers: a small prior and a few keyword functions voting "no" outweigh
    the category (on the two pools cs.MM 47 of 233 listed papers, cs.CE 82 of 258,
    q-bio 717 of 903). Trained on those labels the classifier learns a narrower area than
    its categories and its thresholds sit too high for papers the keywords miss. Papers
    without a listed category keep the label model's label.
    """
    out = np.array(labels, dtype=np.int8, copy=True)
    index = {topic: t for t, topic in enumerate(topics)}
    for j, lf in enumerate(lfs):
        if lf.uses_categories and lf.topic in index:
            out[L[:, j] == POSITIVE, index[lf.topic]] = 1
    return out


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
