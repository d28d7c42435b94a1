"""TopicModel: everything needed to tag papers, saved as one directory.

The directory holds ``classifier.joblib`` (the fitted TopicClassifier and the labeling
view statistics), ``taxonomy.yaml`` (the exact taxonomy it was trained with) and
``meta.json`` (embedding model id, topic ids, thresholds, training summary), so a model
can be rebuilt and checked without the training code. This is setfit's recipe: a
sentence-transformer body (by reference) plus a scikit-learn head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperrec import bundles
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.taxonomy import Taxonomy, parse_taxonomy

FORMAT_VERSION = 2  # 2: pickles name the concept packages (paperrec.topics.classify, ...)


def topic_description(topic) -> str:
    """The text embedded for a topic's description-similarity labeling function."""
    return f"{topic.name}. {topic.description}"


@dataclass
class TopicModel:
    """A trained topic classifier with its taxonomy and the embedding model it expects.

    ``topic_vectors`` (n_topics, dim) are the embedded topic descriptions; ``view_mean`` and
    ``view_scale`` (n_topics,) standardise description similarity for labeling functions.
    """

    taxonomy: Taxonomy
    classifier: TopicClassifier
    embedding_model_id: str
    topic_vectors: np.ndarray
    view_mean: np.ndarray
    view_scale: np.ndarray
    summary: dict = field(default_factory=dict)

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return self.taxonomy.ids

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n_papers, n_topics) calibrated probabilities from embeddings X (n_papers, dim)."""
        return self.classifier.predict_proba(X)

    @property
    def thresholds(self) -> dict[str, float]:
        """Each topic's decision threshold: a paper gets the label at or above it. The
        probabilities are calibrated; the thresholds maximise F1 (against the weak labels)
        and sit below 0.5 for most topics, since a rare topic's best F1 comes from labelling
        papers whose probability is lower than even odds."""
        return {
            t: round(float(th), 4)
            for t, th in zip(self.topic_ids, self.classifier.thresholds_, strict=True)
        }

    def labels(self, probabilities: np.ndarray) -> list[list[str]]:
        """Topic ids at or above their thresholds, most probable first, for each row."""
        above = probabilities >= self.classifier.thresholds_
        out = []
        for row, mask in zip(probabilities, above, strict=True):
            order = np.argsort(-row)
            out.append([self.topic_ids[i] for i in order if mask[i]])
        return out

    def score_rows(self, ids: Sequence[str], X: np.ndarray, decimals: int = 4) -> list[dict]:
        """``{"id", "topics": {topic: p}, "labels": [...], "thresholds": {topic: t}}`` per
        paper: the ``score`` output (a label is a topic whose p is at least its t)."""
        probabilities = self.predict_proba(X) if len(X) else np.zeros((0, len(self.topic_ids)))
        return self.rows(ids, probabilities, decimals)

    def rows(self, ids: Sequence[str], probabilities: np.ndarray, decimals: int = 4) -> list[dict]:
        """`score_rows` from probabilities already computed (n_papers, n_topics), for
        example by bulk workers (`paperrec.bulk`)."""
        labels = self.labels(probabilities)
        thresholds = self.thresholds
        return [
            {
                "id": paper_id,
                "topics": {
                    t: round(float(p), decimals) for t, p in zip(self.topic_ids, row, strict=True)
                },
                "labels": labs,
                "thresholds": thresholds,
            }
            for paper_id, row, labs in zip(ids, probabilities, labels, strict=True)
        ]

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write the bundle to ``directory`` (atomically, through `paperrec.bundles`)."""
        parts = {
            "classifier": self.classifier,
            "topic_vectors": self.topic_vectors,
            "view_mean": self.view_mean,
            "view_scale": self.view_scale,
        }
        meta = {
            "embedding_model_id": self.embedding_model_id,
            "topics": list(self.topic_ids),
            "thresholds": [round(float(t), 6) for t in self.classifier.thresholds_],
            "taxonomy_sha256": self.taxonomy.sha256,
            "summary": self.summary,
        }
        files = {"classifier.joblib": parts, "taxonomy.yaml": self.taxonomy.text}
        return bundles.save(directory, "topics", meta, files, version=FORMAT_VERSION)

    @classmethod
    def load(cls, directory: Path) -> TopicModel:
        bundle = bundles.load(directory, "topics", version=FORMAT_VERSION)
        parts = bundle.parts["classifier.joblib"]
        return cls(
            taxonomy=parse_taxonomy(bundle.text("taxonomy.yaml"), str(directory)),
            classifier=parts["classifier"],
            embedding_model_id=bundle.meta["embedding_model_id"],
            topic_vectors=parts["topic_vectors"],
            view_mean=parts["view_mean"],
            view_scale=parts["view_scale"],
            summary=bundle.meta.get("summary", {}),
        )
