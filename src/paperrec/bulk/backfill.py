"""``paperrec backfill``: ingest, embed and score a large JSONL or Parquet source, by shard.

The source is read with paperrec's own parsers (the ids, dates and content hashes that
``ingest`` gives) and cut into fixed shards (`paperrec.store.shards`). Shards not yet
done go through the batch function (`paperrec.bulk.jobs.Runner`: here or on Ray) a round
at a time; each finished shard is written to the output folder, then loaded into the
store in bulk (its papers in one transaction, its vectors into the embedding cache) and
marked loaded. A killed backfill, run again with the same arguments, skips the shards
already loaded and loads the shards written but not loaded, so nothing is computed or
stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperrec.bulk.batch import HASH
from paperrec.bulk.jobs import Runner, make_batch
from paperrec.papers.ingest import check_readable, format_of
from paperrec.papers.sources import Problem, papers_of, read_path
from paperrec.schema import Paper
from paperrec.store import UpsertCounts
from paperrec.store.shards import Plan, ShardDir, ShardRows

# Shards computed per round: one Ray dataset (and one actor pool) per round keeps the
# driver's memory bounded (a round of 2,000-paper shards holds 64,000 papers).
SHARDS_PER_ROUND = 32


@dataclass
class BackfillSummary:
    papers: int = 0
    shards: int = 0
    already_done: int = 0  # shards loaded by an earlier run
    duplicates: int = 0  # papers whose id came earlier in the source (the first is kept)
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    problems: list[Problem] = field(default_factory=list)
    computed: int = 0  # papers that went through the batch function in this run
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "papers": self.papers,
            "shards": self.shards,
            "shards_already_done": self.already_done,
            "papers_computed": self.computed,
            "duplicates_skipped": self.duplicates,
            "added": self.counts.added,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 1),
        }


def backfill(
    runner: Runner,
    paths: list[Path],
    out: Path,
    *,
    fmt: str = "auto",
    shard_size: int = 2000,
    topics_version: str | None = None,
    on_shard: Callable[[int], None] | None = None,
) -> BackfillSummary:
    """Ingest, embed and (with ``runner.topics_path``) score every paper of ``paths`` into
    the runner's store and shard files under ``out``; ``on_shard`` gets each shard's size."""
    runner.check()
    for path in paths:
        check_readable(path)
    formats = {format_of(path, fmt) for path in paths}
    model = runner.topic_model
    shards = ShardDir(out)
    shards.start(
        Plan.of_files(
            paths,
            format=",".join(sorted(formats)),
            shard_size=shard_size,
            embedding_model=runner.runtime.embedder.model_id,
            topics=list(model.topic_ids) if model is not None else [],
            topics_version=topics_version,
        )
    )
    summary = BackfillSummary()
    started = time.perf_counter()
    pending: list[tuple[int, list[Paper], str]] = []
    for index, papers, source in _cut(paths, fmt, shard_size, summary):
        summary.shards += 1
        summary.papers += len(papers)
        if shards.is_loaded(index):
            summary.already_done += 1
            continue
        pending.append((index, papers, source))
        if len(pending) == SHARDS_PER_ROUND:
            _round(runner, shards, pending, summary, on_shard)
            pending = []
    _round(runner, shards, pending, summary, on_shard)
    summary.seconds = time.perf_counter() - started
    return summary


def _cut(
    paths: list[Path], fmt: str, size: int, summary: BackfillSummary
) -> Iterator[tuple[int, list[Paper], str]]:
    """(index, papers, source format) of each shard: ``size`` papers in source order, each
    id once (a shard holds papers of one file, so each keeps its file's format)."""
    seen: set[str] = set()
    index = 0
    for path in paths:
        source = format_of(path, fmt)
        shard: list[Paper] = []
        for paper in papers_of(read_path(path, source), summary.problems):
            if paper.id in seen:
                summary.duplicates += 1
                continue
            seen.add(paper.id)
            shard.append(paper)
            if len(shard) == size:
                yield index, shard, source
                index, shard = index + 1, []
        if shard:
            yield index, shard, source
            index += 1


def _round(
    runner: Runner,
    shards: ShardDir,
    pending: list[tuple[int, list[Paper], str]],
    summary: BackfillSummary,
    on_shard: Callable[[int], None] | None,
) -> None:
    """Compute the pending shards not yet written, then load each as it completes."""
    todo = [(i, papers) for i, papers, _ in pending if not shards.is_written(i)]
    sources = {i: source for i, _, source in pending}
    papers_of_shard = {i: papers for i, papers, _ in pending}
    for i, _, _ in pending:  # written by a run killed before it loaded them
        if shards.is_written(i):
            _load(runner, shards, i, papers_of_shard[i], sources[i], shards.read(i), summary)
            if on_shard:
                on_shard(len(papers_of_shard[i]))
    for index, rows in _computed(runner, todo):
        shards.write(index, rows)
        summary.computed += len(rows.ids)
        _load(runner, shards, index, papers_of_shard[index], sources[index], rows, summary)
        if on_shard:
            on_shard(len(rows.ids))


def _computed(
    runner: Runner, todo: list[tuple[int, list[Paper]]]
) -> Iterator[tuple[int, ShardRows]]:
    """Each shard's results as soon as all its rows are back (workers finish in any order)."""
    sizes = {index: len(papers) for index, papers in todo}
    parts: dict[int, list[dict]] = {index: [] for index in sizes}
    got = dict.fromkeys(sizes, 0)
    for out in runner.run(_batches(todo)):
        for index in np.unique(out["shard"]):
            mask = out["shard"] == index
            parts[int(index)].append({key: value[mask] for key, value in out.items()})
            got[int(index)] += int(mask.sum())
            if got[int(index)] == sizes[int(index)]:
                yield int(index), _rows(runner, parts.pop(int(index)))


def _batches(todo: Iterable[tuple[int, list[Paper]]]) -> Iterator[dict]:
    for index, papers in todo:
        yield make_batch(
            [p.content_hash for p in papers],
            [p.text for p in papers],
            id=[p.id for p in papers],
            shard=np.full(len(papers), index),
            row=np.arange(len(papers)),
        )


def _rows(runner: Runner, parts: list[dict]) -> ShardRows:
    """One shard's result parts, back in source order, with labels from the thresholds."""
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    order = np.argsort(merged["row"], kind="stable")
    model = runner.topic_model
    topics = merged["topics"][order] if model is not None else np.zeros((len(order), 0))
    return ShardRows(
        ids=[str(i) for i in merged["id"][order]],
        hashes=[str(h) for h in merged[HASH][order]],
        vectors=merged["vector"][order],
        topics=topics,
        labels=model.labels(topics) if model is not None else [[] for _ in order],
    )


def _load(
    runner: Runner,
    shards: ShardDir,
    index: int,
    papers: list[Paper],
    source: str,
    rows: ShardRows,
    summary: BackfillSummary,
) -> None:
    """A shard's papers into the store (one transaction) and its vectors into the cache,
    then its marker; redoing it after a kill stores nothing twice (upserts by key)."""
    store, embedder = runner.runtime.store, runner.runtime.embedder
    summary.counts += store.papers.upsert(papers, source)
    store.embeddings.put_many(embedder.model_id, rows.hashes, rows.vectors)
    shards.mark_loaded(index)
