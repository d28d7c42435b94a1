"""Ingest: parse files (or fetched papers) and write them to the store in atomic batches.

Each batch of papers is one transaction, so a crash leaves whole batches only and a rerun
adds nothing twice. In strict mode every file is parsed first and any problem aborts the
ingest before a single row is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperrec.errors import InputError
from paperrec.papers.sources import Problem, detect_format, papers_of, read_path
from paperrec.schema import Paper
from paperrec.store import PaperStore, UpsertCounts


@dataclass
class IngestSummary:
    files: int = 0
    read: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "read": self.read,
            "added": self.counts.added,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "older_versions_skipped": self.counts.older_skipped,
            "problems": len(self.problems),
        }


def _batches(papers: Iterable[Paper], size: int):
    batch: list[Paper] = []
    for paper in papers:
        batch.append(paper)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_papers(
    store: PaperStore,
    papers: Iterable[Paper],
    source: str,
    *,
    batch_size: int = 500,
    summary: IngestSummary | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Write ``papers`` in batches of ``batch_size``, each batch in one transaction."""
    summary = summary or IngestSummary()
    for batch in _batches(papers, batch_size):
        summary.read += len(batch)
        summary.counts += store.upsert(batch, source)
        if on_batch:
            on_batch(len(batch))
    return summary


def ingest_paths(
    store: PaperStore,
    paths: Sequence[Path],
    fmt: str = "auto",
    *,
    strict: bool = False,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest files; problems are collected in the summary (or raised at once if ``strict``)."""
    for path in map(Path, paths):
        check_readable(path)
    # Resolve every file's format first: an undetectable one fails before any row is written.
    jobs = [(Path(path), _format_of(Path(path), fmt)) for path in paths]
    summary = IngestSummary(files=len(jobs))
    if strict:
        parsed = [(source, list(read_path(path, source))) for path, source in jobs]
        problems = [r for _, records in parsed for r in records if isinstance(r, Problem)]
        if problems:
            shown = "; ".join(str(p) for p in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            count = f"{len(problems)} bad record(s)"
            raise InputError(f"--strict: {count}, nothing written: {shown}{more}")
        for source, records in parsed:
            ingest_papers(
                store, records, source, batch_size=batch_size, summary=summary, on_batch=on_batch
            )
        return summary
    for path, source in jobs:
        papers = papers_of(read_path(path, source), summary.problems)
        ingest_papers(
            store, papers, source, batch_size=batch_size, summary=summary, on_batch=on_batch
        )
    return summary


def check_readable(path: Path) -> None:
    """InputError saying what is wrong with ``path`` when it is not a readable file."""
    if path.is_dir():
        raise InputError(
            "is a directory; name the files in it (for example DIR/*.jsonl)", path=str(path)
        )
    if not path.exists():
        raise InputError("no such file", path=str(path))
    if not path.is_file():
        raise InputError("not a regular file (a device, pipe or socket)", path=str(path))


def _format_of(path: Path, fmt: str) -> str:
    """The format ``path`` is read in, which is also the source name its papers get."""
    return fmt if fmt != "auto" else detect_format(path)


def ingest_arxiv(
    store: PaperStore,
    categories: Sequence[str],
    *,
    days: int,
    max_results: int,
    ids: Sequence[str] = (),
    keep: Callable[[Paper], bool] | None = None,
    batch_size: int = 500,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Ingest the papers of ``categories`` from the last ``days`` days from the live arXiv
    API (at most ``max_results``; those ``keep`` accepts, when given) and the papers with
    the arXiv ``ids`` (an unknown id is a problem), as source ``arxiv-api``: ``paperrec
    ingest arxiv`` and retrain's ``arxiv:`` sources."""
    from paperrec.papers.sources.arxiv_api import API_SOURCE, fetch_ids, fetch_recent

    summary = summary or IngestSummary()
    papers = []
    if categories:
        papers = fetch_recent(list(categories), days=days, max_results=max_results)
        if keep is not None:
            papers = [p for p in papers if keep(p)]
    if ids:
        found, problems = fetch_ids(ids)
        papers += found
        summary.problems += problems
    return ingest_papers(store, papers, API_SOURCE, batch_size=batch_size, summary=summary)
