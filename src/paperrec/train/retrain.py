"""``paperrec retrain``: refresh the data, train both models, gate, promote.

One MLflow parent run (experiment ``paperrec-retrain``) holds the whole retrain: its
config, data snapshot, git commit and package version; its child runs are the stages:
``data`` (ingest and embed), ``train-topics``, ``train-ranker`` and ``gate``. Both new
versions get the alias ``candidate`` and tags naming the data, the config and the retrain
run.

On a home without a topics champion the packaged topic model becomes the first one
(`paperrec.train.packaged`). The new topic model is gated against the champion's before
the ranker trains, and the ranker learns its topic features from the one that won, so a
promoted ranker always serves beside the topic model it was trained on (its ``pair``
tag). When the new topic model won, the gate then promotes both together, or neither;
when the champion's won, the new topic model is set aside and the ranker is gated alone.

A retrain whose data and config hash equal those of the current candidates trains
nothing (``status == "nothing-new"``) unless forced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from paperrec.errors import InputError
from paperrec.papers.ingest import IngestSummary
from paperrec.papers.sources import expand
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.topics.taxonomy import load_taxonomy
from paperrec.train import registry, tracking
from paperrec.train.gate import (
    GATE_TAG,
    EvaluationData,
    GateResult,
    ModelSet,
    held_out,
    read_gold,
    registered_set,
    run_gate,
)
from paperrec.train.gate_history import EXPERIMENT, GATE_RUN
from paperrec.train.packaged import PackagedOutcome, ensure_packaged_champion
from paperrec.train.ranker_run import RankerRunResult, page_users, train_ranker
from paperrec.train.refresh import embed_missing, ingest_sources
from paperrec.train.retrain_config import RetrainConfig
from paperrec.train.snapshot import DataSnapshot, provenance, take_snapshot
from paperrec.train.topics_run import TopicRunResult, train_topics

DATA_TAG = "paperrec.data_hash"  # version tags written by a retrain
CONFIG_TAG = "paperrec.config_hash"
RUN_TAG = "paperrec.retrain_run"
PAIR_TAG = "paperrec.pair"  # the other model's version from the same retrain


class Reporter:
    """How a retrain tells its caller what it is doing: this silent default, or any object
    with these two methods (the CLI draws stages and an embedding bar)."""

    def stage(self, name: str) -> None:
        """A stage begins."""

    def embedding(self, total: int) -> Callable[[int], None] | None:
        """A progress callback for embedding ``total`` papers."""
        return None


@dataclass
class RetrainOutcome:
    status: Literal["nothing-new", "promoted", "rejected"]
    message: str
    ingest: IngestSummary
    embedded: int
    snapshot: DataSnapshot
    config_hash: str
    run_id: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    topics: TopicRunResult | None = None
    ranker: RankerRunResult | None = None
    gate: GateResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    packaged: PackagedOutcome | None = None  # the packaged topic model, on a fresh home
    topic_gate: GateResult | None = None  # the topic model gated before the ranker trains


def _taxonomy(config: RetrainConfig):
    return load_taxonomy(Path(config.taxonomy) if config.taxonomy else None)


def config_hash(config: RetrainConfig) -> str:
    taxonomy = _taxonomy(config)
    return hashlib.sha256(f"{config.sha256()}\n{taxonomy.sha256}".encode()).hexdigest()


def last_candidate(settings) -> tuple[str | None, str | None, str | None]:
    """(data hash, config hash, retrain run) of the current candidates, if both agree."""
    found = set()
    for name in registry.MODELS.values():
        version = registry.alias_version(settings, name, registry.CANDIDATE)
        if version is None:
            return None, None, None
        tags = next(v.tags for v in registry.list_versions(settings, name) if v.version == version)
        found.add((tags.get(DATA_TAG), tags.get(CONFIG_TAG), tags.get(RUN_TAG)))
    return found.pop() if len(found) == 1 else (None, None, None)


def retrain(
    runtime: Runtime,
    config: RetrainConfig,
    *,
    since: dt.date | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> RetrainOutcome:
    """Ingest, embed, train, register candidates, gate and (if it passes) promote."""
    reporter = reporter or Reporter()
    settings = runtime.settings
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    reporter.stage("ingesting sources")
    sources = expand(config.source_list(settings), noun="retrain source")
    ingest = ingest_sources(runtime, sources, since=since, max_results=config.arxiv_max_results)
    papers = runtime.store.papers.iter_papers()
    if not papers:
        raise InputError(
            "the store holds no papers and the sources added none; configure sources "
            "(--config FILE or PAPERREC_RETRAIN_SOURCES) or run `paperrec ingest`"
        )
    reporter.stage("embedding")
    embedded = embed_missing(runtime, papers, reporter.embedding(len(papers)))
    gold = topic_gold(config, papers)
    snapshot = take_snapshot(runtime, papers, gold)
    digest = config_hash(config)
    seconds["data"] = time.perf_counter() - started
    data_hash, last_config, last_run = last_candidate(settings)
    if not force and (data_hash, last_config) == (snapshot.content_hash, digest):
        message = (
            f"nothing new: {snapshot.papers} papers, {snapshot.votes} votes and the config are "
            f"what retrain run {last_run} trained the current candidates on; "
            "--force retrains anyway"
        )
        return RetrainOutcome(
            "nothing-new", message, ingest, embedded, snapshot, digest, seconds=seconds
        )
    pages = sources.pages
    if config.pages is not None:
        pages = expand(config.pages, "hf-page", noun="page", local=True).pages
    outcome = RetrainOutcome("rejected", "", ingest, embedded, snapshot, digest, seconds=seconds)
    reporter.stage("looking for a topics champion")
    outcome.packaged = ensure_packaged_champion(runtime, _taxonomy(config).sha256)
    with tracking.tracked_run(settings, EXPERIMENT, "retrain") as parent:
        outcome.run_id = parent.info.run_id
        _log_parent(config, snapshot, digest, pages)
        with tracking.tracked_run(settings, EXPERIMENT, "data"):
            tracking.log_metrics(
                {**ingest.as_dict(), "embedded": embedded, "seconds": seconds["data"]}
            )
            tracking.log_json(snapshot.as_dict(), "snapshot.json")
        data, champion = _train(runtime, config, gold, pages, outcome, reporter)
        _register_candidates(settings, outcome, snapshot.content_hash, digest)
        reporter.stage("gating")
        _gate(runtime, config, data, champion, outcome)
        gated = {f"candidate.{r.model}.{r.metric}": r.candidate for r in outcome.gate.rows}
        tracking.log_metrics({**gated, "promoted": float(outcome.status == "promoted")})
        tracking.log_params({"gate_tolerance": outcome.gate.tolerance})
        tracking.set_tags({GATE_TAG: outcome.status, "paperrec.reason": outcome.message})
    return outcome


def _log_parent(config: RetrainConfig, snapshot: DataSnapshot, digest: str, pages) -> None:
    code = provenance()
    tracking.log_params({"retrain": config.as_dict(), "snapshot": snapshot.as_dict(), **code})
    tracking.log_params({"pages": [str(p) for p in pages], "config_hash": digest})
    tracking.set_tags(
        {
            DATA_TAG: snapshot.content_hash,
            CONFIG_TAG: digest,
            "paperrec.git_commit": code["git_commit"],
        }
    )
    tracking.log_json(config.as_dict(), "retrain_config.json")
    tracking.log_json(snapshot.as_dict(), "snapshot.json")


def _train(
    runtime: Runtime,
    config: RetrainConfig,
    gold,
    pages,
    outcome: RetrainOutcome,
    reporter: Reporter,
) -> tuple[EvaluationData, ModelSet]:
    """Train the topic model, gate it against the champion's, train the ranker on the
    topic model that won (its topic features are the ones served beside it); returns the
    evaluation data both gates use and the champions, loaded once for both."""
    settings = runtime.settings
    started = time.perf_counter()
    reporter.stage("training the topic classifier")
    holdout = () if config.topics_eval else {p.id for p in gold}
    outcome.topics = train_topics(
        runtime,
        taxonomy_path=Path(config.taxonomy) if config.taxonomy else None,
        dev_papers=gold,
        config=config.topic_training(),
        promote=False,
        holdout=holdout,
        ceiling=config.ceiling,
    )
    outcome.seconds["train_topics"] = time.perf_counter() - started
    reporter.stage("gating the topic classifier")
    started = time.perf_counter()
    data = evaluation_data(runtime, gold, pages)
    champion = registered_set(settings, registry.CHAMPION)
    candidate = ModelSet(outcome.topics.model, versions={"topics": outcome.topics.version})
    tolerance = config.gate_tolerance(settings)
    outcome.topic_gate = run_gate(runtime, data, candidate, champion, tolerance)
    outcome.seconds["gate_topics"] = time.perf_counter() - started
    started = time.perf_counter()
    reporter.stage("training the ranker")
    outcome.ranker = train_ranker(
        runtime,
        pages=pages,
        config=config.ranker_training(),
        draws=config.draws,
        promote=False,
        topic_model=outcome.topics.model if _topics_won(outcome) else champion.topics,
    )
    outcome.seconds["train_ranker"] = time.perf_counter() - started
    outcome.versions = {"topics": outcome.topics.version, "ranker": outcome.ranker.version}
    return data, champion


def _topics_won(outcome: RetrainOutcome) -> bool:
    """Whether the new topic model passed its gate (always, without a topics champion)."""
    return outcome.topic_gate.promote


def _register_candidates(settings, outcome: RetrainOutcome, data_hash: str, digest: str) -> None:
    """Tag both new versions and give them the ``candidate`` alias; the ranker's pair is
    the topic model it was trained on (the champion's, when the new one lost)."""
    versions = outcome.versions
    common = {DATA_TAG: data_hash, CONFIG_TAG: digest, RUN_TAG: outcome.run_id}
    won = _topics_won(outcome)
    pairs = {
        "topics": versions["ranker"] if won else None,
        "ranker": versions["topics"] if won else outcome.topic_gate.champion["topics"],
    }
    for key, name in registry.MODELS.items():
        tags = common | ({PAIR_TAG: pairs[key]} if pairs[key] else {})
        registry.tag_version(settings, name, versions[key], tags)
        registry.set_alias(settings, name, registry.CANDIDATE, versions[key])


def topic_gold(config: RetrainConfig, papers: list[Paper]) -> list[Paper]:
    """The papers topics are measured on: the config's gold file, or held-out stored papers."""
    if config.topics_eval:
        return read_gold(Path(config.topics_eval))
    return held_out(papers, config.holdout_share)


def evaluation_data(runtime: Runtime, gold: list[Paper], pages: list[Path]) -> EvaluationData:
    """What the gate measures both sides on: ``gold`` for topics, the store for ranking."""
    papers = runtime.store.papers.iter_papers()
    return EvaluationData(
        topic_papers=list(gold),
        topic_X=runtime.embedder.embed(gold),
        papers=papers,
        X=runtime.embedder.embed(papers),
        pages=page_users(papers, pages),
    )


def _gate(
    runtime: Runtime, config: RetrainConfig, data, champion: ModelSet, outcome: RetrainOutcome
) -> None:
    started = time.perf_counter()
    topics = outcome.topics.model if _topics_won(outcome) else None
    candidate = ModelSet(topics, outcome.ranker.model, dict(outcome.versions))
    tolerance = config.gate_tolerance(runtime.settings)
    outcome.gate = gate_and_promote(
        runtime, data, candidate, tolerance, outcome.topic_gate, champion=champion
    )
    outcome.status = "promoted" if outcome.gate.promote else "rejected"
    outcome.message = outcome.gate.reason
    outcome.seconds["gate"] = time.perf_counter() - started


def gate_and_promote(
    runtime: Runtime,
    data: EvaluationData,
    candidate: ModelSet,
    tolerance: float,
    topic_gate: GateResult | None = None,
    champion: ModelSet | None = None,
) -> GateResult:
    """Gate ``candidate`` against the registered champions (child run ``gate``) and promote
    every candidate version together when it passes; tags each version with the decision
    (a topic model set aside by ``topic_gate``, `run_gate`, is tagged rejected).

    ``champion``: the champions already loaded (`paperrec retrain` loads them once, before
    training, and nothing promotes in between); by default they are loaded here."""
    settings = runtime.settings
    if champion is None:
        champion = registered_set(settings, registry.CHAMPION)
    with tracking.tracked_run(settings, EXPERIMENT, GATE_RUN):
        result = run_gate(runtime, data, candidate, champion, tolerance, topic_gate)
        tracking.log_params(
            {"tolerance": tolerance, "promote": result.promote, "reason": result.reason}
        )
        tracking.log_params({"candidate": candidate.versions, "champion": champion.versions})
        for row in result.rows:
            metrics = {"candidate": row.candidate, "champion": row.champion, "delta": row.delta}
            tracking.log_metrics({f"{row.model}.{row.metric}.{k}": v for k, v in metrics.items()})
        tracking.log_json(result.as_dict(), "gate.json")
    decision = "promoted" if result.promote else "rejected"
    event = registry.new_event()
    for key, version in result.set_aside.items():
        registry.tag_version(settings, registry.MODELS[key], version, {GATE_TAG: "rejected"})
    for key, version in result.candidate.items():
        registry.tag_version(settings, registry.MODELS[key], version, {GATE_TAG: decision})
        if result.promote:
            registry.promote(settings, registry.MODELS[key], version, event)
    return result
