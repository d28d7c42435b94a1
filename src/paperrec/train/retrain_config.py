"""What one ``paperrec retrain`` does: sources, evaluation data, gate, seed, training knobs.

Read from a YAML file (``paperrec retrain --config FILE``); every field has a default, so
no file at all is a valid configuration. Paths may name environment variables
(``${PAPERREC_SHARED_DIR}/seeds/*.txt``; an unset one is an error naming it); relative paths
are relative to the file. ``training/demo.yaml`` is the one ``make demo`` uses. Example::

    sources: [seeds/*.txt, pool.jsonl, "arxiv:cs.LG"]  # default: PAPERREC_RETRAIN_SOURCES
    pages: [seeds/000.txt]          # seed pages for the ranker; default: the HF-page sources
    topics_eval: dev.jsonl          # papers with arXiv categories; default: a held-out share
    holdout_share: 0.1              #   of the stored papers with categories
    tolerance: 0.01                 # default: PAPERREC_GATE_TOLERANCE
    seed: 0
    topics: {classifier: {n_estimators: 150}}   # TopicTrainingConfig fields
    ranker: {repeats: 2}                         # RankerTrainingConfig fields
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paperrec.config import Settings
from paperrec.errors import InputError
from paperrec.papers.sources import ARXIV_PREFIX
from paperrec.train.ranker_fit import RankerTrainingConfig
from paperrec.train.topics_fit import TopicTrainingConfig


class RetrainConfig(BaseModel):
    """One retrain's configuration; logged whole with the retrain's MLflow run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[str] | None = Field(
        None, description="files, glob patterns or arxiv:CATEGORY; None: Settings.retrain_sources"
    )
    pages: list[str] | None = Field(
        None, description="HF page files, one ranker pseudo-user each; None: the HF-page sources"
    )
    topics_eval: str | None = Field(
        None, description="JSONL/CSV of papers with arXiv categories the gate measures topics on"
    )
    holdout_share: float = Field(
        0.1, gt=0, lt=1, description="without topics_eval: stored papers held out for the gate"
    )
    tolerance: float | None = Field(None, ge=0, description="None: Settings.gate_tolerance")
    seed: int = Field(0, description="random_state of both models")
    draws: int = Field(5, ge=1, description="random profiles per seed page in the evaluation")
    ceiling: bool = Field(False, description="also train topics on gold labels (5-fold; slow)")
    taxonomy: str | None = Field(None, description="taxonomy YAML; None: the shipped one")
    arxiv_max_results: int = Field(2000, ge=1, description="papers per arXiv API ingest")
    topics: dict = Field(default_factory=dict, description="TopicTrainingConfig fields")
    ranker: dict = Field(default_factory=dict, description="RankerTrainingConfig fields")

    def topic_training(self) -> TopicTrainingConfig:
        return _training(TopicTrainingConfig, self.topics, self.seed, "topics")

    def ranker_training(self) -> RankerTrainingConfig:
        return _training(RankerTrainingConfig, self.ranker, self.seed, "ranker")

    def source_list(self, settings: Settings) -> list[str]:
        return list(settings.retrain_sources if self.sources is None else self.sources)

    def gate_tolerance(self, settings: Settings) -> float:
        return settings.gate_tolerance if self.tolerance is None else self.tolerance

    def as_dict(self) -> dict:
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        """Hash of everything that shapes the models (the data is hashed separately)."""
        shaping = self.model_dump(mode="json", exclude={"sources", "arxiv_max_results"})
        shaping["topics"] = dataclasses.asdict(self.topic_training())
        shaping["ranker"] = dataclasses.asdict(self.ranker_training())
        text = json.dumps(shaping, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _training(cls, fields: dict, seed: int, section: str):
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "random_state"]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InputError(
            f"{section}: unknown field(s) {', '.join(unknown)}; available: {', '.join(allowed)}"
            " (random_state comes from seed)"
        )
    values = dict(fields)
    if "profile_sizes" in values:
        values["profile_sizes"] = tuple(values["profile_sizes"])
    return cls(**values, random_state=seed)


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _expand(entry: str, config: Path) -> str:
    """``entry`` with each ``$NAME`` / ``${NAME}`` replaced by the environment's value."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise InputError(f"{entry!r} names ${name}, which is not set", path=str(config))
        return os.environ[name]

    return _VARIABLE.sub(value, entry)


def _resolve(entry: str, base: Path, config: Path) -> str:
    if entry.startswith(ARXIV_PREFIX):
        return entry
    path = Path(_expand(entry, config)).expanduser()
    return str(path if path.is_absolute() else base / path)


def load_retrain_config(path: Path | None) -> RetrainConfig:
    """The configuration in ``path`` (YAML), or the defaults when ``path`` is None.

    Raises InputError naming the file and the field (or YAML line) that is wrong.
    """
    if path is None:
        return RetrainConfig()
    path = Path(path)
    if not path.is_file():
        raise InputError("no such retrain config file", path=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", path=str(path), line=line
        ) from None
    if not isinstance(data, dict):
        raise InputError("a retrain config is a mapping of fields", path=str(path))
    try:
        config = RetrainConfig(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "config"
        allowed = ", ".join(RetrainConfig.model_fields)
        hint = f"; available: {allowed}" if error["type"] == "extra_forbidden" else ""
        raise InputError(f"{where}: {error['msg']}{hint}", path=str(path)) from None
    base = path.resolve().parent
    resolved = {
        "sources": [_resolve(s, base, path) for s in config.sources]
        if config.sources is not None
        else None,
        "pages": [_resolve(p, base, path) for p in config.pages]
        if config.pages is not None
        else None,
        "topics_eval": _resolve(config.topics_eval, base, path) if config.topics_eval else None,
        "taxonomy": _resolve(config.taxonomy, base, path) if config.taxonomy else None,
    }
    config = config.model_copy(update=resolved)
    try:
        config.topic_training(), config.ranker_training()  # unknown training fields fail here
    except InputError as exc:
        raise InputError(str(exc), path=str(path)) from None
    return config
