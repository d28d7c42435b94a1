"""RankingModel: the fitted featurizer background, TF-IDF encoder and LambdaRank ranker,
saved as one directory (``ranker.joblib`` + ``meta.json``).

``scorer`` says what orders candidates: ``"learned"`` (the ranker), or, when training
found the learned ranker no better than a plain baseline on the author-continuation
protocol, that baseline (``FALLBACKS``), so paperrec never ships a ranking worse than
zotero-arxiv-daily's cosine. A fallback still honours dislikes: a candidate nearer to a
disliked paper than to any liked one loses the excess similarity."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperrec import bundles
from paperrec.errors import PaperrecError
from paperrec.recommend.features import (
    FEATURE_NAMES,
    CandidateArrays,
    ProfileArrays,
    ProfileFeaturizer,
)
from paperrec.recommend.lexical import LexicalEncoder
from paperrec.recommend.ranker import PaperRanker

# 2: pickles name the concept packages (paperrec.recommend.lexical, ...); 3: author and
# background features, and the scorer (learned or a fallback baseline)
FORMAT_VERSION = 3
LEARNED = "learned"
# baseline name -> the feature column that computes it
FALLBACKS = {
    "zotero-arxiv-daily": "sim_zotero",
    "centroid": "sim_centroid",
    "max-similarity": "sim_max",
}
_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
# Dislikes act on the learned score directly, outside the trees: almost no training query
# carries a dislike, and trees fitted to a handful of synthetic ones pushed papers close to
# a freshly disliked paper up, not down. A candidate loses DISLIKE_WEIGHT for each unit of
# cosine by which it is nearer to a disliked paper than DISLIKE_MARGIN below its nearest
# liked paper; the learned score's unit is about one background standard deviation of
# the nearest-liked similarity (the prior's unit), roughly 0.1 of cosine. Profiles without
# dislikes (every evaluation protocol) score exactly as the ranker says.
DISLIKE_WEIGHT = 10.0
DISLIKE_MARGIN = 0.1


def _nearer_to_disliked(features: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(n_rows,) how much nearer each candidate is to a disliked paper than ``margin``
    below its nearest liked paper, in cosine; 0 where it is not, or without dislikes."""
    excess = features[:, _COLUMN["dis_max"]] - features[:, _COLUMN["sim_max"]] + margin
    return np.maximum(np.nan_to_num(excess), 0.0)


@dataclass
class RankingModel:
    """``topic_ids`` are the topics whose probabilities the ranker was trained with."""

    featurizer: ProfileFeaturizer
    lexical: LexicalEncoder
    ranker: PaperRanker
    embedding_model_id: str
    topic_ids: tuple[str, ...] = ()
    summary: dict = field(default_factory=dict)
    scorer: str = LEARNED

    def __post_init__(self) -> None:
        if self.scorer != LEARNED and self.scorer not in FALLBACKS:
            raise PaperrecError(
                f"unknown ranking scorer {self.scorer!r}; "
                f"available: {', '.join([LEARNED, *FALLBACKS])}"
            )

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """Scores (n_rows,) from featurizer rows (n_rows, n_features), higher is better."""
        if self.scorer == LEARNED:
            near = _nearer_to_disliked(features, DISLIKE_MARGIN)
            return self.ranker.predict(features) - DISLIKE_WEIGHT * near
        base = np.nan_to_num(features[:, _COLUMN[FALLBACKS[self.scorer]]].astype(np.float64))
        return base - _nearer_to_disliked(features)

    def score(self, profile: ProfileArrays, candidates: CandidateArrays) -> np.ndarray:
        """Scores (n_candidates,) of ``candidates`` for ``profile``."""
        return self.score_features(self.featurizer.transform(profile, candidates))

    def save(self, directory: Path) -> Path:
        """Write the bundle to ``directory`` (atomically, through `paperrec.bundles`)."""
        parts = {"featurizer": self.featurizer, "lexical": self.lexical, "ranker": self.ranker}
        meta = {
            "embedding_model_id": self.embedding_model_id,
            "topic_ids": list(self.topic_ids),
            "features": list(FEATURE_NAMES),
            "scorer": self.scorer,
            "summary": self.summary,
        }
        files = {"ranker.joblib": parts}
        return bundles.save(directory, "ranker", meta, files, version=FORMAT_VERSION)

    @classmethod
    def load(cls, directory: Path) -> RankingModel:
        required = {"features": list(FEATURE_NAMES)}
        bundle = bundles.load(directory, "ranker", version=FORMAT_VERSION, require=required)
        parts, meta = bundle.parts["ranker.joblib"], bundle.meta
        return cls(
            featurizer=parts["featurizer"],
            lexical=parts["lexical"],
            ranker=parts["ranker"],
            embedding_model_id=meta["embedding_model_id"],
            topic_ids=tuple(meta["topic_ids"]),
            summary=meta.get("summary", {}),
            scorer=meta.get("scorer", LEARNED),
        )
