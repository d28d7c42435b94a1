"""RankingModel: the fitted featurizer background, TF-IDF encoder and LambdaRank ranker,
saved as one directory (``ranker.joblib`` + ``meta.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib

from paperrec.errors import ModelNotTrainedError, PaperrecError
from paperrec.recommend.features import FEATURE_NAMES, ProfileFeaturizer
from paperrec.recommend.lexical import LexicalEncoder
from paperrec.recommend.ranker import PaperRanker

FORMAT_VERSION = 2  # 2: pickles name the concept packages (paperrec.recommend.lexical, ...)


@dataclass
class RankingModel:
    """``topic_ids`` are the topics whose probabilities the ranker was trained with."""

    featurizer: ProfileFeaturizer
    lexical: LexicalEncoder
    ranker: PaperRanker
    embedding_model_id: str
    topic_ids: tuple[str, ...] = ()
    summary: dict = field(default_factory=dict)

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
        )
