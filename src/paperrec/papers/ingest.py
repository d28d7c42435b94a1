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
from paperrec.papers.sources import Named, Problem, detect_format, papers_of, read_path
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
    named = Named(files=[(Path(path), format_of(Path(path), fmt)) for path in paths])
    return ingest_named(store, named, strict=strict, batch_size=batch_size, on_batch=on_batch)


def ingest_named(
    store: PaperStore,
    named: Named,
    *,
    strict: bool = False,
    days: int = 1,
    max_results: int = 2000,
    keep: Callable[[Paper], bool] | None = None,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest everything specs name (`paperrec.papers.sources.expand`): each file in its
        format (its papers get that format as their source), then the arXiv categories (the
        last ``days`` days, at most ``max_results`` papers) and ids from the live API, as source
        ``arxiv-api``. ``keep``, when given, filters the papers of files and categories (papers
    asked for by id are always kept).

        The arXiv API is asked first, so an unreachable API (NetworkError) writes nothing. With
        ``strict`` every file is parsed before any row is written, and a bad record or an unknown
        arXiv id aborts the ingest with nothing written.
    """
    for path, _ in named.files:
        check_readable(path)
    summary = IngestSummary(files=len(named.files))
    fetched: list[Paper] = []
    if named.categories or named.ids:
        fetched = _fetch_arxiv(named, days, max_results, keep, summary.problems)
    parsed = [(fmt, read_path(path, fmt)) for path, fmt in named.files]
    if strict:
        parsed = [(fmt, list(records)) for fmt, records in parsed]
        problems = summary.problems + [
            record for _, records in parsed for record in records if isinstance(record, Problem)
        ]
        if problems:
            shown = "; ".join(str(p) for p in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            count = f"{len(problems)} bad record(s)"
            raise InputError(f"--strict: {count}, nothing written: {shown}{more}")
    write = dict(batch_size=batch_size, summary=summary, on_batch=on_batch)
    for fmt, records in parsed:
        papers = papers_of(records, summary.problems)
        ingest_papers(store, papers if keep is None else filter(keep, papers), fmt, **write)
    if fetched:
        from paperrec.papers.sources.arxiv_api import API_SOURCE

        ingest_papers(store, fetched, API_SOURCE, **write)
    return summary


def _fetch_arxiv(
    named: Named,
    days: int,
    max_results: int,
    keep: Callable[[Paper], bool] | None,
    problems: list[Problem],
) -> list[Paper]:
    """The papers of the named arXiv categories (those ``keep`` accepts) and ids (whatever
    their date); an unknown id goes to ``problems``."""
    from paperrec.papers.sources.arxiv_api import fetch_ids, fetch_recent

    papers = []
    if named.categories:
        papers = fetch_recent(list(named.categories), days=days, max_results=max_results)
        papers = [paper for paper in papers if keep is None or keep(paper)]
    if named.ids:
        found, unknown = fetch_ids(named.ids)
        papers += found
        problems += unknown
    return papers


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


def format_of(path: Path, fmt: str) -> str:
    """The format ``path`` is read in, which is also the source name its papers get."""
    return fmt if fmt != "auto" else detect_format(path)
