"""arXiv Atom XML: a saved arXiv API response, read offline, and the record both roads share.

An Atom entry read by feedparser here and an ``arxiv.Result`` from the live API
(`paperrec.papers.sources.arxiv_api`) are first reduced to the same `ArxivEntry`, so ids,
versions, category order and dates are handled once, in `to_record`.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.sax
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from paperrec.papers.sources.base import Problem, Record, check_paper
from paperrec.schema import Paper, normalize_text, split_arxiv_id


@dataclass(frozen=True, slots=True)
class ArxivEntry:
    """The fields paperrec reads from one arXiv record, whichever road it came by."""

    entry_id: str  # e.g. http://arxiv.org/abs/2401.01234v3
    title: str
    summary: str
    primary: str
    categories: Sequence[str]
    published: dt.date | None
    authors: Sequence[str]


def ordered_categories(primary: str, categories: Sequence[str]) -> tuple[str, ...]:
    """Primary category first, then the others in document order, each once."""
    terms = (term.strip() for term in (primary, *categories))
    return tuple(dict.fromkeys(term for term in terms if term))


def to_record(entry: ArxivEntry, source: str, path: str, line: int | None) -> Record:
    """One arXiv entry as a Paper (id without version, version kept), or a Problem."""
    if "/api/errors" in entry.entry_id:
        # The API reports a bad query as a feed whose single entry is the error.
        message = normalize_text(entry.summary) or "no message"
        return Problem(path, line, f"the arXiv API returned an error: {message}")
    if split_arxiv_id(entry.entry_id) is None:
        return Problem(
            path,
            line,
            f"entry id {entry.entry_id!r} is not an arXiv id; "
            "expected a URL like http://arxiv.org/abs/2401.01234v2",
        )
    paper = Paper.create(
        entry.title,
        entry.summary,
        id=entry.entry_id,
        categories=ordered_categories(entry.primary, entry.categories),
        date=entry.published,
        source=source,
        authors=[normalize_text(name) for name in entry.authors if name.strip()],
    )
    return check_paper(paper, path, line)


# -- Atom files ---------------------------------------------------------------------------
def entry_from_feed(entry) -> ArxivEntry:
    """A feedparser entry (arXiv's ``arxiv:`` namespace keeps its prefix) as an ArxivEntry."""
    published = entry.get("published_parsed")  # UTC struct_time
    return ArxivEntry(
        entry_id=entry.get("id", ""),
        title=entry.get("title", ""),
        summary=entry.get("summary", ""),
        primary=(entry.get("arxiv_primary_category") or {}).get("term", ""),
        categories=[tag.get("term") or "" for tag in entry.get("tags", [])],
        published=dt.date(*published[:3]) if published else None,
        authors=[author.get("name", "") for author in entry.get("authors", [])],
    )


def _line_of_id(text: str, entry_id: str) -> int | None:
    """1-based line of the ``<id>`` element holding ``entry_id``; None if not found."""
    match = re.search(r"<id>\s*" + re.escape(entry_id), text) if entry_id else None
    return text.count("\n", 0, match.start()) + 1 if match else None


def _first_bad_utf8_line(raw: bytes) -> int | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw.count(b"\n", 0, exc.start) + 1
    return None


def _feed_problem(feed, raw: bytes, name: str) -> Problem | None:
    """Why the whole file cannot be trusted, or None when it parsed cleanly."""
    error = feed.get("bozo_exception")
    if isinstance(error, xml.sax.SAXParseException):
        # feedparser's fallback parser would still return entries, possibly cut short;
        # a half-read abstract must not reach the store, so the file is refused whole.
        return Problem(
            name,
            error.getLineNumber(),
            f"malformed XML ({error.getMessage()}, column {error.getColumnNumber()}); "
            "nothing read from this file, re-download it or fix the XML",
        )
    import feedparser

    if isinstance(
        error, feedparser.CharacterEncodingOverride | feedparser.CharacterEncodingUnknown
    ):
        return Problem(
            name,
            _first_bad_utf8_line(raw),
            f"wrong encoding ({error}); nothing read from this file, save it as UTF-8",
        )
    if feed.get("version") != "atom10":
        found = feed.get("version") or "no feed at all"
        message = f"not an Atom feed (found {found}); expected an arXiv API response"
        return Problem(name, None, message)
    return None


def parse_arxiv_atom(path: Path, source: str = "arxiv-atom") -> Iterator[Record]:
    """Papers of one saved arXiv API response (Atom 1.0 XML), problems with file and line.

    The file is read as bytes so feedparser never treats the name as a URL to fetch.
    """
    import feedparser  # imported here: the CLI's start-up does not pay for it

    name = str(path)
    raw = path.read_bytes()
    feed = feedparser.parse(raw)
    problem = _feed_problem(feed, raw, name)
    if problem is not None:
        yield problem
        return
    text = raw.decode("utf-8", errors="replace")
    for entry in feed.entries:
        arxiv_entry = entry_from_feed(entry)
        line = _line_of_id(text, arxiv_entry.entry_id)
        yield to_record(arxiv_entry, source, name, line)
