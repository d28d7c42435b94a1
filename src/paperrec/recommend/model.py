"""RankingModel: the fitted featurizer background, TF-IDF encoder and LambdaRank ranker,
saved as one directory (``ranker.joblib`` + ``meta.json``).

``scorer`` says what orders candidates: ``"learned"`` (the ranker), or, when training
found the learned ranker no better than a plain baseline on the author-continuation
protocol, that baseline (``FALLBACKS``), so paperrec never ships a ranking worse than
zotero-arxiv-daily's cosine. A fallback still honours dislikes: a candidate nearer to a
disliked paper than to any liked one loses the excess similarity."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np

from paperrec.errors import ModelNotTrainedError, PaperrecError
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
        excess = features[:, _COLUMN["dis_max"]] - features[:, _COLUMN["sim_max"]]
        if self.scorer == LEARNED:
            near = np.maximum(np.nan_to_num(excess + DISLIKE_MARGIN, nan=0.0), 0.0)
            return self.ranker.predict(features) - DISLIKE_WEIGHT * near
        base = np.nan_to_num(features[:, _COLUMN[FALLBACKS[self.scorer]]].astype(np.float64))
        return base - np.maximum(np.nan_to_num(excess), 0.0)

    def score(self, profile: ProfileArrays, candidates: CandidateArrays) -> np.ndarray:
        """Scores (n_candidates,) of ``candidates`` for ``profile``."""
        return self.score_features(self.featurizer.transform(profile, candidates))

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {"featurizer": self.featurizer, "lexical": self.lexical, "ranker": self.ranker},
            directory / "ranker.joblib",
        )
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "paperrec-ranker",
            "embedding_model_id": self.embedding_model_id,
            "topic_ids": list(self.topic_ids),
            "features": list(FEATURE_NAMES),
            "scorer": self.scorer,
            "summary": self.summary,
        }
        (directory / "meta.json").write_text(
            json.dumps(meta, indent=2, default=str), encoding="utf-8"
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> RankingModel:
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.is_file():
            raise ModelNotTrainedError(
                f"no ranking model at {directory}; run `paperrec train ranker`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("kind") != "paperrec-ranker" or meta.get("format_version") != FORMAT_VERSION:
            raise PaperrecError(
                f"{directory} is not a paperrec ranking model of format {FORMAT_VERSION}"
            )
        if tuple(meta["features"]) != FEATURE_NAMES:
            raise PaperrecError(
                f"{directory} was trained with other features; retrain with `paperrec train ranker`"
            )
        parts = joblib.load(directory / "ranker.joblib")
        return cls(
            featurizer=parts["featurizer"],
            lexical=parts["lexical"],
            ranker=parts["ranker"],
            embedding_model_id=meta["embedding_model_id"],
            topic_ids=tuple(meta["topic_ids"]),
            summary=meta.get("summary", {}),
            scorer=meta.get("scorer", LEARNED),
        )
