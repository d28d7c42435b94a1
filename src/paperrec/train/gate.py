"""The promotion gate: a candidate becomes champion only if it is not worse than the
champion, measured on the same evaluation data.

Both sides are evaluated here, on the data the candidate was evaluated on, never by
comparing numbers logged at different times on different data:
- topics: area macro-F1 of the classifier on papers with arXiv categories (a gold file,
  or stored papers held out from training), beside the rule baselines;
- ranker: nDCG@10, recall@50 and MRR on held-out pool users (phrase users, and topic
  users from the candidate's and from the champion's topic labels), each ranker with its
  own lexical encoder and topic model, beside the embedding baselines (arxiv-sanity-lite's
  SVM is in the train-ranker run: it is slow).
A metric passes when ``candidate >= champion - tolerance``; the candidate is promoted when
every metric passes, or when there is no champion yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from paperrec.config import Settings
from paperrec.errors import InputError
from paperrec.evaluate.ranking import evaluate_queries
from paperrec.evaluate.topics import evaluate_topics
from paperrec.papers.sources import Problem, read_path
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.model import RankingModel
from paperrec.recommend.pseudo_users import PseudoUser, Query
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.topics.model import TopicModel
from paperrec.train import registry
from paperrec.train.ranker_pipeline import build_corpus, pool_queries, split_pool_users

RANKER_METRICS = ("ndcg@10", "recall@50", "mrr")
RANKER_BASELINES = ("zotero-arxiv-daily", "centroid")
TOPIC_BASELINES = ("majority_vote", "zero_shot")


@dataclass
class ModelSet:
    """One side of the comparison: a topic model and a ranker (either may be missing)."""

    topics: TopicModel | None = None
    ranking: RankingModel | None = None
    versions: dict[str, str] = field(default_factory=dict)


def registered_set(settings: Settings, alias: str) -> ModelSet:
    """The registered versions carrying ``alias`` (``champion``, ``candidate``)."""
    found = ModelSet()
    for key, name in registry.MODELS.items():
        version = registry.alias_version(settings, name, alias)
        if version is None:
            continue
        path, _ = registry.fetch_bundle(settings, name, version)
        if key == "topics":
            found.topics = TopicModel.load(path)
        else:
            found.ranking = RankingModel.load(path)
        found.versions[key] = version
    return found


@dataclass
class EvaluationData:
    """What both sides are measured on: gold papers for topics, the corpus for ranking."""

    topic_papers: list[Paper]
    topic_X: np.ndarray
    papers: list[Paper]
    X: np.ndarray
    pages: list[PseudoUser] = field(default_factory=list)


def held_out(papers: Sequence[Paper], share: float) -> list[Paper]:
    """Papers with arXiv categories whose id hashes into the first ``share`` of buckets:
    the same papers in every retrain, never trained on when they are the topic gold."""

    def bucket(paper: Paper) -> float:
        return int(hashlib.sha256(paper.id.encode()).hexdigest()[:8], 16) / 0x100000000

    return [p for p in papers if p.categories and bucket(p) < share]


def read_gold(path: Path) -> list[Paper]:
    """Papers with arXiv categories from ``path``; InputError when it holds none."""
    if not Path(path).is_file():
        raise InputError("no such topics_eval file", path=str(path))
    papers = [r for r in read_path(Path(path)) if not isinstance(r, Problem) and r.categories]
    if not papers:
        raise InputError("no papers with arXiv categories to evaluate topics on", path=str(path))
    return papers


@dataclass
class Row:
    """One gated metric: candidate beside champion (None: no champion) and a baseline."""

    model: str
    metric: str
    candidate: float
    champion: float | None
    tolerance: float
    baseline: str | None = None
    baseline_value: float | None = None

    @property
    def delta(self) -> float | None:
        return None if self.champion is None else self.candidate - self.champion

    @property
    def passed(self) -> bool:
        return self.champion is None or self.candidate >= self.champion - self.tolerance - 1e-12


@dataclass
class GateResult:
    rows: list[Row]
    candidate: dict[str, str]
    champion: dict[str, str]
    tolerance: float

    @property
    def promote(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def reason(self) -> str:
        if all(row.champion is None for row in self.rows):
            return "no champion yet: the first candidate is promoted"
        failed = [row for row in self.rows if not row.passed]
        if not failed:
            return f"every gated metric is within {self.tolerance:g} of the champion's or better"
        return "worse than the champion: " + "; ".join(
            f"{r.model} {r.metric} {r.candidate:.3f} vs {r.champion:.3f} "
            f"({r.delta:+.3f}, allowed -{self.tolerance:g})"
            for r in failed
        )

    def as_dict(self) -> dict:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "tolerance": self.tolerance,
            "candidate": self.candidate,
            "champion": self.champion,
            "rows": [{**asdict(r), "delta": r.delta, "passed": r.passed} for r in self.rows],
        }


def _topic_rows(
    data: EvaluationData, candidate: ModelSet, champion: ModelSet, tolerance: float
) -> list[Row]:
    ours = evaluate_topics(candidate.topics, data.topic_papers, data.topic_X)["macro_f1"]
    theirs = (
        evaluate_topics(champion.topics, data.topic_papers, data.topic_X)["macro_f1"]
        if champion.topics
        else None
    )
    best = max(TOPIC_BASELINES, key=lambda m: ours[m])
    return [
        Row(
            "topics",
            "macro_f1",
            ours["classifier"],
            theirs and theirs["classifier"],
            tolerance,
            best,
            ours[best],
        )
    ]


def gate_queries(corpus: Corpus, labelers: Sequence[TopicModel | None]) -> list[Query]:
    """Held-out pool-user queries with topic users from each of ``labelers``' labels (the
    candidate's and the champion's), so neither side alone decides what is relevant."""
    queries, seen = [], set()
    for labeler in labelers:
        _, test_users = split_pool_users(corpus, labeler)
        fresh = [u for u in test_users if (u.name, tuple(u.members.tolist())) not in seen]
        seen.update((u.name, tuple(u.members.tolist())) for u in fresh)
        queries += pool_queries(corpus, fresh)
    return queries


def _ranker_rows(
    runtime: Runtime,
    data: EvaluationData,
    candidate: ModelSet,
    champion: ModelSet,
    tolerance: float,
) -> list[Row]:
    ours_topics = candidate.topics or champion.topics
    ours_corpus = build_corpus(
        runtime, ours_topics, data.pages, data.papers, data.X, candidate.ranking.lexical
    )
    labelers = [ours_topics] + ([champion.topics] if champion.topics is not ours_topics else [])
    queries = gate_queries(ours_corpus, labelers)
    if not queries:
        raise InputError("no held-out pool users to evaluate the ranker on; ingest more papers")
    methods = ("ranker", *RANKER_BASELINES)
    ours = evaluate_queries(queries, ours_corpus, lambda q: candidate.ranking, methods=methods)
    theirs = None
    if champion.ranking is not None:
        theirs_corpus = build_corpus(
            runtime, champion.topics, data.pages, data.papers, data.X, champion.ranking.lexical
        )
        theirs = evaluate_queries(
            queries, theirs_corpus, lambda q: champion.ranking, methods=("ranker",)
        )["methods"]
    rows = []
    for metric in RANKER_METRICS:
        means = {m: ours["methods"][m][metric]["mean"] for m in methods}
        best = max(RANKER_BASELINES, key=means.get)
        champ = theirs["ranker"][metric]["mean"] if theirs else None
        rows.append(Row("ranker", metric, means["ranker"], champ, tolerance, best, means[best]))
    return rows


def run_gate(
    runtime: Runtime,
    data: EvaluationData,
    candidate: ModelSet,
    champion: ModelSet,
    tolerance: float,
) -> GateResult:
    """Evaluate ``candidate`` and ``champion`` on ``data``; the rows and the decision."""
    rows = []
    if candidate.topics is not None:
        rows += _topic_rows(data, candidate, champion, tolerance)
    if candidate.ranking is not None:
        rows += _ranker_rows(runtime, data, candidate, champion, tolerance)
    if not rows:
        raise InputError("no candidate model to gate")
    return GateResult(rows, dict(candidate.versions), dict(champion.versions), tolerance)
