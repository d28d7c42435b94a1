"""Fine-topic evaluation against a hand-judged gold file (ids + topic ids, no text).

The gold file holds one ``{"id": ..., "topics": [...]}`` per line: the fine topics that
two independent annotation passes, adjudicated, found in a paper (``[]``: none). The
papers themselves come from a JSONL file that has them (for the shipped gold,
``arxiv_dev.jsonl``). Reported per fine topic and as macro-F1 over the fine topics with
gold papers, side by side:
- ``classifier``: the TopicModel's labels from title + abstract embeddings;
- ``majority_vote``: the text-reading labeling functions (as for areas);
- ``zero_shot``: fine topics whose description is unusually close to the paper's
  embedding (standardised similarity ``z >= ZERO_SHOT_Z``, within ``ZERO_SHOT_MARGIN`` of
  the paper's nearest fine topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from paperrec.errors import InputError
from paperrec.evaluate.topics import rule_majority, score_methods
from paperrec.schema import Paper
from paperrec.topics.labeling import ViewBuilder
from paperrec.topics.model import TopicModel

ZERO_SHOT_Z = 2.0
ZERO_SHOT_MARGIN = 0.02


def fine_gold_matrix(
    model: TopicModel, labels: Mapping[str, Sequence[str]], papers: Sequence[Paper]
) -> np.ndarray:
    """(n_papers, n_topics) 0/1 from the gold file's topics for ``papers`` (in that order)."""
    index = {t: i for i, t in enumerate(model.topic_ids)}
    fine = set(model.taxonomy.fine_ids)
    gold = np.zeros((len(papers), len(index)), dtype=np.int8)
    for row, paper in enumerate(papers):
        for topic in labels[paper.id]:
            if topic not in fine:
                raise InputError(
                    f"paper {paper.id}: unknown fine topic {topic!r}; "
                    f"available: {', '.join(sorted(fine))}"
                )
            gold[row, index[topic]] = 1
    return gold


def match_papers(
    labels: Mapping[str, Sequence[str]], papers: Sequence[Paper], source: str
) -> list[Paper]:
    """The papers of ``papers`` that the gold file judged, in gold order; all must be there."""
    by_id = {p.id: p for p in papers}
    missing = [paper_id for paper_id in labels if paper_id not in by_id]
    if missing:
        raise InputError(
            f"{len(missing)} gold paper(s) not in {source} (first: {missing[0]}); "
            "pass the file the gold set was judged from"
        )
    return [by_id[paper_id] for paper_id in labels]


def fine_zero_shot(model: TopicModel, X: np.ndarray) -> np.ndarray:
    """Fine topics whose standardised description similarity is high and near the best."""
    views = ViewBuilder.from_stats(
        model.taxonomy, model.topic_vectors, model.view_mean, model.view_scale
    )
    fine = np.array([i for i, t in enumerate(model.taxonomy.topics) if not t.is_area])
    out = np.zeros((len(X), len(model.topic_ids)), dtype=np.int8)
    if not len(fine):
        return out
    z = views.similarity_z(X)[:, fine]
    similarity = X @ model.topic_vectors[fine].T
    near_best = similarity >= similarity.max(axis=1, keepdims=True) - ZERO_SHOT_MARGIN
    out[:, fine] = near_best & (z >= ZERO_SHOT_Z)
    return out


def evaluate_fine_topics(
    model: TopicModel, papers: Sequence[Paper], X: np.ndarray, gold: np.ndarray
) -> dict:
    """Per-fine-topic precision/recall/F1 and macro-F1: classifier and baselines.

    ``papers`` and ``X`` (n, dim) are the judged papers; ``gold`` (n, n_topics) their labels.
    """
    methods = {
        "classifier": model.classifier.predict(X),
        "majority_vote": rule_majority(model, papers, X),
        "zero_shot": fine_zero_shot(model, X),
    }
    columns = [i for i, t in enumerate(model.taxonomy.topics) if not t.is_area and gold[:, i].any()]
    per_topic, macro = score_methods(model.topic_ids, gold, methods, columns)
    return {
        "n_papers": len(papers),
        "n_topics": len(columns),
        "n_without_fine_topic": int((gold[:, columns].sum(axis=1) == 0).sum()),
        "macro_f1": macro,
        "topics": per_topic,
    }
