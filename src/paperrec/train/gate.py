"""The promotion gate: a candidate becomes champion only if it is not worse than the
champion, measured on the same evaluation data.

Both sides are evaluated here, on the data the candidate was evaluated on, never by
comparing numbers logged at different times on different data:
- topics: area macro-F1 of the classifier on papers with arXiv categories (a gold file,
  or stored papers held out from training), beside the rule baselines;
- ranker: nDCG@10, pairwise accuracy and MRR on the author-continuation protocol
  (held-out researchers' next papers among hard negatives), and nDCG@10, recall@50 and
  MRR on held-out pool users (phrase users, and topic users from the candidate's and
  from the champion's topic labels), each ranker with its own lexical encoder and topic
  model, beside the embedding baselines (arxiv-sanity-lite's SVM is in the train-ranker
  run: it is slow).
A metric passes when ``candidate >= champion - tolerance``; on the author protocol it must
also be no worse than zotero-arxiv-daily's cosine (``floor``), whatever the champion did.
The candidate is promoted when every metric passes (with no champion yet, when it clears
every floor).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from paperrec.config import Settings
from paperrec.errors import InputError
from paperrec.evaluate.ranking import author_queries, evaluate_queries
from paperrec.evaluate.topics import evaluate_topics
from paperrec.papers.sources import read
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.model import RankingModel
from paperrec.recommend.pseudo_users import PseudoUser, Query
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.topics.model import TopicModel
from paperrec.train import registry
from paperrec.train.ranker_run import (
    FLOOR_BASELINE,
    build_corpus,
    pool_queries,
    split_corpus_authors,
    split_pool_users,
)

RANKER_METRICS = ("ndcg@10", "recall@50", "mrr")
AUTHOR_METRICS = ("ndcg@10", "pairwise", "mrr")
RANKER_BASELINES = ("zotero-arxiv-daily", "centroid", "max-similarity")
TOPIC_BASELINES = ("majority_vote", "zero_shot")
_METRIC_NAMES = {"macro_f1": "area macro-F1"}
GATE_TAG = "paperrec.gate"  # a version's gate decision: promoted or rejected


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
    papers = [p for p in read(path, noun="topics_eval").papers if p.categories]
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
    floor: float | None = None  # the candidate must reach this too (a baseline's value)

    @property
    def delta(self) -> float | None:
        return None if self.champion is None else self.candidate - self.champion

    @property
    def above_floor(self) -> bool:
        return self.floor is None or self.candidate >= self.floor - 1e-12

    @property
    def passed(self) -> bool:
        near_champion = (
            self.champion is None or self.candidate >= self.champion - self.tolerance - 1e-12
        )
        return near_champion and self.above_floor


@dataclass
class GateResult:
    """The rows and the decision. ``set_aside`` names candidate versions that lost to the
    champion in a gate of their own before the rest was trained (`paperrec retrain` gates
    the topic model first and trains the ranker on the winner): their rows are shown, the
    champion stays, and the decision is about the ``candidate`` versions alone."""

    rows: list[Row]
    candidate: dict[str, str]
    champion: dict[str, str]
    tolerance: float
    set_aside: dict[str, str] = field(default_factory=dict)

    @property
    def gated(self) -> list[Row]:
        """The rows that decide: those of the models up for promotion."""
        return [row for row in self.rows if row.model in self.candidate]

    @property
    def promote(self) -> bool:
        return bool(self.candidate) and all(row.passed for row in self.gated)

    @property
    def reason(self) -> str:
        """The decision in one sentence (a set-aside topic model first, then the rest)."""
        if not self.set_aside:
            return self._reason(self.gated)
        lost = [row for row in self.rows if row.model in self.set_aside]
        scores = ", ".join(
            f"{_METRIC_NAMES.get(r.metric, r.metric)} {r.candidate:.3f} vs {r.champion:.3f}"
            for r in lost
            if r.champion is not None
        )
        (key, version), *_ = self.set_aside.items()
        return (
            f"{key} v{version} set aside, worse than champion v{self.champion[key]} "
            f"({scores}, allowed -{self.tolerance:g}), so the ranker was trained on the "
            f"champion's topics and gated alone: {self._reason(self.gated)}"
        )

    def _reason(self, rows: list[Row]) -> str:
        if any(row.champion is not None for row in rows):
            failed = [row for row in rows if row.champion is not None and not row.passed]
            worse = [row for row in failed if row.above_floor]
            if worse:
                return "worse than the champion: " + "; ".join(
                    f"{r.model} {r.metric} {r.candidate:.3f} vs {r.champion:.3f} "
                    f"({r.delta:+.3f}, allowed -{self.tolerance:g})"
                    for r in worse
                )
        below = [row for row in rows if not row.above_floor]
        if below:
            return f"worse than {FLOOR_BASELINE}: " + "; ".join(
                f"{r.model} {r.metric} {r.candidate:.3f} vs {r.floor:.3f}" for r in below
            )
        if all(row.champion is None for row in rows):
            return "no champion yet, the first candidate is promoted"
        return f"every gated metric is within {self.tolerance:g} of the champion's or better"

    def as_dict(self) -> dict:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "tolerance": self.tolerance,
            "candidate": self.candidate,
            "champion": self.champion,
            "set_aside": self.set_aside,
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


def gate_topics(
    candidate: ModelSet,
    champion: ModelSet,
    papers: Sequence[Paper],
    X: np.ndarray,
    tolerance: float,
) -> GateResult:
    """The gate of a topic model alone (``paperrec train topics``), measured on ``papers``
    with arXiv categories (embeddings X, (n, dim)): the topics row of `run_gate`."""
    data = EvaluationData(list(papers), X, [], np.zeros((0, X.shape[1]), dtype=np.float32))
    rows = _topic_rows(data, candidate, champion, tolerance)
    return GateResult(rows, dict(candidate.versions), dict(champion.versions), tolerance)


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
    protocols = {
        "authors": (author_queries(ours_corpus, split_corpus_authors(ours_corpus)[1]), True),
        "pool_users": (gate_queries(ours_corpus, labelers), False),
    }
    if not any(queries for queries, _ in protocols.values()):
        raise InputError("no held-out users to evaluate the ranker on; ingest more papers")
    theirs_corpus = None
    if champion.ranking is not None:
        theirs_corpus = build_corpus(
            runtime, champion.topics, data.pages, data.papers, data.X, champion.ranking.lexical
        )
    rows = []
    for protocol, (queries, floored) in protocols.items():
        if not queries:
            continue
        rows += _protocol_rows(
            protocol, queries, ours_corpus, theirs_corpus, candidate, champion, tolerance, floored
        )
    return rows


def _protocol_rows(
    protocol, queries, ours_corpus, theirs_corpus, candidate, champion, tolerance, floored
) -> list[Row]:
    """Rows for one protocol: candidate and champion on the same queries, the best
    embedding baseline beside them, and (``floored``) zotero-arxiv-daily as a floor."""
    methods = ("ranker", *RANKER_BASELINES)
    ours = evaluate_queries(queries, ours_corpus, lambda q: candidate.ranking, methods=methods)
    theirs = None
    if theirs_corpus is not None:
        theirs = evaluate_queries(
            queries, theirs_corpus, lambda q: champion.ranking, methods=("ranker",)
        )["methods"]
    rows = []
    for metric in AUTHOR_METRICS if floored else RANKER_METRICS:
        means = {m: ours["methods"][m][metric]["mean"] for m in methods}
        best = max(RANKER_BASELINES, key=means.get)
        champ = theirs["ranker"][metric]["mean"] if theirs else None
        floor = means[FLOOR_BASELINE] if floored and metric != "mrr" else None
        rows.append(
            Row(
                "ranker",
                f"{protocol}.{metric}",
                means["ranker"],
                champ,
                tolerance,
                best,
                means[best],
                floor,
            )
        )
    return rows


def run_gate(
    runtime: Runtime,
    data: EvaluationData,
    candidate: ModelSet,
    champion: ModelSet,
    tolerance: float,
    topic_gate: GateResult | None = None,
) -> GateResult:
    """Evaluate ``candidate`` and ``champion`` on ``data``; the rows and the decision.

    ``topic_gate``: the gate of a topic model alone, run before on the same data and
    champion. Its rows are reused; when ``candidate`` holds no topic model (the champion's
    won, and the ranker was trained on it) they stand as the rows of a set-aside candidate.
    """
    rows, set_aside = [], {}
    if topic_gate is not None:
        rows += topic_gate.rows
        if candidate.topics is None:
            set_aside = dict(topic_gate.candidate)
    elif candidate.topics is not None:
        rows += _topic_rows(data, candidate, champion, tolerance)
    if candidate.ranking is not None:
        rows += _ranker_rows(runtime, data, candidate, champion, tolerance)
    if not rows:
        raise InputError("no candidate model to gate")
    versions = {k: v for k, v in candidate.versions.items() if k not in set_aside}
    return GateResult(rows, versions, dict(champion.versions), tolerance, set_aside)
