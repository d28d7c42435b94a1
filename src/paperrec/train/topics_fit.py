"""Fit the topic classifier from the taxonomy alone: label, combine, fit (the run around it,
with evaluation, logging and the registry, is `paperrec.train.topics_run`).

No gold labels: the labeling functions vote (arXiv categories among them, for papers that
carry them), the label model turns votes into labels, and the classifier learns from
embeddings to reproduce and generalise those labels to papers without categories.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from paperrec.errors import InputError
from paperrec.papers.embed import Embedder
from paperrec.schema import Paper
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.labeling import (
    LabelingFunction,
    ViewBuilder,
    apply_lfs,
    combine,
    generate_lfs,
    lf_report,
    with_anchor_positives,
)
from paperrec.topics.model import TopicModel, topic_description
from paperrec.topics.taxonomy import Taxonomy


@dataclass
class TopicTrainingConfig:
    """What `paperrec train topics` can be told; logged whole with every run."""

    anchor_accuracy: float | None = 0.995
    # Training labels of topics without an arXiv anchor: "label_model" or "majority"
    # (`topics.labeling.combine` says what each measured).
    unanchored_labels: str = "label_model"
    # Every paper whose arXiv categories list an area is a positive training label of that
    # area, whatever the label model says (`topics.labeling.with_anchor_positives`; measured
    # in docs/topics.md: out of distribution 0.303 -> 0.332 area macro-F1, mean of seeds).
    anchor_positives: bool = True
    classifier: dict = field(default_factory=dict)
    random_state: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LabelingResult:
    lfs: list[LabelingFunction]
    L: np.ndarray
    probabilities: np.ndarray
    majority: np.ndarray
    report: list[dict]
    views: ViewBuilder


def embed_topics(taxonomy: Taxonomy, embedder: Embedder) -> np.ndarray:
    """(n_topics, dim) embeddings of the topic descriptions (cached like papers)."""
    texts = [topic_description(t) for t in taxonomy.topics]
    hashes = [hashlib.sha256(("topic\n" + t).encode("utf-8")).hexdigest() for t in texts]
    return embedder.embed_texts(texts, hashes)


def weak_label(
    papers: Sequence[Paper],
    X: np.ndarray,
    taxonomy: Taxonomy,
    topic_vectors: np.ndarray,
    config: TopicTrainingConfig,
    extra_lfs: Sequence[LabelingFunction] = (),
) -> LabelingResult:
    """Apply the taxonomy's labeling functions (and ``extra_lfs``) and combine their votes."""
    unknown = sorted({lf.topic for lf in extra_lfs} - set(taxonomy.ids))
    if unknown:
        raise InputError(
            f"labeling functions vote for unknown topic(s) {', '.join(unknown)}; "
            f"available: {', '.join(taxonomy.ids)}"
        )
    views = ViewBuilder(taxonomy, topic_vectors).fit(X)
    lfs = generate_lfs(taxonomy) + list(extra_lfs)
    L = apply_lfs(lfs, views.build(papers, X))
    weak = combine(
        L,
        lfs,
        taxonomy.ids,
        anchor_accuracy=config.anchor_accuracy,
        unanchored=config.unanchored_labels,
    )
    report = lf_report(L, lfs, taxonomy.ids, learned_accuracy=weak.learned_accuracy)
    return LabelingResult(lfs, L, weak.probabilities, weak.majority, report, views)


def training_labels(
    labeling: LabelingResult, taxonomy: Taxonomy, config: TopicTrainingConfig
) -> np.ndarray:
    """The classifier's 0/1 training labels (n_papers, n_topics): the combined weak label
    above 0.5, and with ``config.anchor_positives`` every listed area."""
    labels = (labeling.probabilities > 0.5).astype(np.int8)
    if config.anchor_positives:
        labels = with_anchor_positives(labels, labeling.L, labeling.lfs, taxonomy.ids)
    return labels


def train_topic_model(
    papers: Sequence[Paper],
    X: np.ndarray,
    taxonomy: Taxonomy,
    embedder: Embedder,
    config: TopicTrainingConfig | None = None,
    extra_lfs: Sequence[LabelingFunction] = (),
) -> tuple[TopicModel, LabelingResult]:
    """Weak labels for ``papers`` (embeddings X, (n, dim)), then a fitted TopicModel."""
    config = config or TopicTrainingConfig()
    started = time.perf_counter()
    topic_vectors = embed_topics(taxonomy, embedder)
    labeling = weak_label(papers, X, taxonomy, topic_vectors, config, extra_lfs)
    labeled_at = time.perf_counter()
    labels = training_labels(labeling, taxonomy, config)
    params = {"random_state": config.random_state, **config.classifier}
    classifier = TopicClassifier(**params).fit(X, labels)
    finished = time.perf_counter()
    summary = {
        "n_papers": len(papers),
        "n_with_categories": int(sum(bool(p.categories) for p in papers)),
        "n_lfs": len(labeling.lfs),
        "label_seconds": round(labeled_at - started, 2),
        "fit_seconds": round(finished - labeled_at, 2),
        "positive_rate": {
            t: round(float(r), 4) for t, r in zip(taxonomy.ids, labels.mean(axis=0), strict=True)
        },
    }
    model = TopicModel(
        taxonomy=taxonomy,
        classifier=classifier,
        embedding_model_id=embedder.model_id,
        topic_vectors=topic_vectors,
        view_mean=labeling.views.mean_,
        view_scale=labeling.views.scale_,
        summary=summary,
    )
    return model, labeling
