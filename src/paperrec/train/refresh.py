"""The first stage of a retrain: ingest what is new from the configured sources, embed
what has no vector yet.

A source is a file or a glob pattern (any format ``paperrec ingest`` reads) or
``arxiv:CATEGORY`` (the live API; all arXiv sources go into one query). Re-reading a file
is cheap and changes nothing that is already stored, so files are simply read again;
``since`` keeps only papers dated on or after it (undated ones, such as HF page entries,
are always read) and sets how far back the arXiv query looks.
"""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperrec.errors import InputError
from paperrec.papers.ingest import IngestSummary, ingest_papers
from paperrec.papers.sources import Problem, detect_format, read_path
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.train.retrain_config import ARXIV_PREFIX

DEFAULT_ARXIV_DAYS = 7  # how far back the arXiv query looks in an empty store

Progress = Callable[[int], None] | None


@dataclass
class Sources:
    """Configured sources, expanded: files (with their format) and arXiv categories."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    @property
    def pages(self) -> list[Path]:
        """The HF page files among the sources (each one a seed page for the ranker)."""
        return [path for path, fmt in self.files if fmt == "hf-page"]


def expand_sources(entries: Sequence[str]) -> Sources:
    """Files and categories of ``entries``; InputError for a pattern that matches nothing."""
    sources = Sources()
    for entry in entries:
        if entry.startswith(ARXIV_PREFIX):
            category = entry.removeprefix(ARXIV_PREFIX).strip()
            if not category:
                raise InputError(f"retrain source {entry!r} names no category, e.g. arxiv:cs.LG")
            sources.categories.append(category)
            continue
        matches = sorted(glob.glob(entry)) if glob.has_magic(entry) else [entry]
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise InputError(f"retrain source {entry!r} matches no file")
        sources.files += [(path, detect_format(path)) for path in files]
    return sources


def _dated_since(
    records: Iterable, since: dt.date | None, problems: list[Problem]
) -> Iterator[Paper]:
    for record in records:
        if isinstance(record, Problem):
            problems.append(record)
        elif since is None or record.date is None or record.date >= since:
            yield record


def ingest_sources(
    runtime: Runtime,
    sources: Sources,
    *,
    since: dt.date | None = None,
    max_results: int = 2000,
    today: dt.date | None = None,
) -> IngestSummary:
    """Ingest every source into the store; one summary for all of them."""
    store = runtime.store.papers
    batch = runtime.settings.ingest_batch_size
    summary = IngestSummary(files=len(sources.files))
    for path, fmt in sources.files:
        papers = _dated_since(read_path(path, fmt), since, summary.problems)
        ingest_papers(store, papers, fmt, batch_size=batch, summary=summary)
    if sources.categories:
        from paperrec.papers.sources.arxiv_api import API_SOURCE, fetch_recent

        start = since or store.latest_date()
        today = today or dt.datetime.now(dt.UTC).date()
        days = (today - start).days + 1 if start else DEFAULT_ARXIV_DAYS
        papers = fetch_recent(sources.categories, days=max(days, 1), max_results=max_results)
        papers = _dated_since(papers, since, summary.problems)
        ingest_papers(store, papers, API_SOURCE, batch_size=batch, summary=summary)
    return summary


def embed_missing(runtime: Runtime, papers: Sequence[Paper], progress: Progress = None) -> int:
    """Embed the papers that have no cached vector yet; returns how many were embedded."""
    embedder = runtime.embedder
    if embedder.cache is None:
        embedder.embed(papers, progress)
        return len(papers)
    before = embedder.cache.count(embedder.model_id)
    embedder.embed(papers, progress)
    return embedder.cache.count(embedder.model_id) - before
