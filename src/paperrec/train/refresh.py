"""The first stage of a retrain: ingest what is new from the configured sources, embed
what has no vector yet.

A source is a file or a glob pattern (any format ``paperrec ingest`` reads),
``arxiv:CATEGORY`` (the live API; all arXiv categories go into one query) or ``arxiv:ID``
(papers by arXiv id, whatever their date). Re-reading a file
is cheap and changes nothing that is already stored, so files are simply read again;
``since`` keeps only papers dated on or after it (undated ones, such as HF page entries,
are always read) and sets how far back the arXiv query looks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from paperrec.papers.ingest import IngestSummary, ingest_named
from paperrec.papers.sources import Named
from paperrec.runtime import Runtime
from paperrec.schema import Paper

DEFAULT_ARXIV_DAYS = 7  # how far back the arXiv query looks in an empty store

Progress = Callable[[int], None] | None


def ingest_sources(
    runtime: Runtime,
    sources: Named,
    *,
    since: dt.date | None = None,
    max_results: int = 2000,
    today: dt.date | None = None,
) -> IngestSummary:
    """Ingest every source (`paperrec.papers.sources.expand`) into the store; one summary
    for all of them."""
    store = runtime.store.papers
    days = DEFAULT_ARXIV_DAYS
    start = since or store.latest_date()
    if start is not None:
        days = max(((today or dt.datetime.now(dt.UTC).date()) - start).days + 1, 1)

    def keep(paper: Paper) -> bool:
        return since is None or paper.date is None or paper.date >= since

    return ingest_named(
        store, sources, days=days, max_results=max_results, keep=keep,
        batch_size=runtime.settings.ingest_batch_size,
    )  # fmt: skip


def embed_missing(runtime: Runtime, papers: Sequence[Paper], progress: Progress = None) -> int:
    """Embed the papers that have no cached vector yet; returns how many were embedded."""
    embedder = runtime.embedder
    if embedder.cache is None:
        embedder.embed(papers, progress)
        return len(papers)
    before = embedder.cache.count(embedder.model_id)
    embedder.embed(papers, progress)
    return embedder.cache.count(embedder.model_id) - before
