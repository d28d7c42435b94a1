"""arXiv: Atom XML saved from the arXiv API (read offline), and the live API itself.

Both roads meet in `to_record`: an Atom entry read by feedparser and an `arxiv.Result`
from the live API are first reduced to the same `ArxivEntry`, so ids, versions, category
order and dates are handled once. This is the only module in paperrec that opens a
network connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.sax
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import arxiv
import feedparser
import requests
from requests.adapters import HTTPAdapter

from paperrec.errors import InputError, NetworkError, unknown_choice
from paperrec.papers.sources.base import Problem, Record, check_paper
from paperrec.schema import Paper, normalize_text, split_arxiv_id

log = logging.getLogger(__name__)

API_HOST = "export.arxiv.org"
API_URL = f"https://{API_HOST}/api/query"
API_SOURCE = "arxiv-api"
# Top-level arXiv archives (https://arxiv.org/category_taxonomy); a category is
# "archive" or "archive.SUBJECT", e.g. hep-th, cs.LG, cond-mat.stat-mech.
ARCHIVES = frozenset(
    {
        "astro-ph", "cond-mat", "cs", "econ", "eess", "gr-qc", "hep-ex", "hep-lat",
        "hep-ph", "hep-th", "math", "math-ph", "nlin", "nucl-ex", "nucl-th", "physics",
        "q-bio", "q-fin", "quant-ph", "stat",
    }
)  # fmt: skip
_CATEGORY = re.compile(r"^(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]+(?:-[a-z]+)?)?$")
_ENCODING_TROUBLE = (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown)


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
    if isinstance(error, _ENCODING_TROUBLE):
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


# -- the live API -------------------------------------------------------------------------
def entry_from_result(result: arxiv.Result) -> ArxivEntry:
    """An ``arxiv.Result`` from the live API as an ArxivEntry (published is UTC)."""
    published = result.published
    return ArxivEntry(
        entry_id=result.entry_id,
        title=result.title,
        summary=result.summary,
        primary=result.primary_category,
        categories=result.categories,
        published=published.date() if published and published.year > 1 else None,
        authors=[author.name for author in result.authors],
    )


def validate_category(category: str) -> str:
    """``category`` stripped, or an InputError saying what a category looks like."""
    text = category.strip()
    match = _CATEGORY.match(text)
    if match is None:
        raise InputError(
            f"arXiv category {category!r} is malformed; expected archive or archive.SUBJECT, "
            "for example cs.LG, stat.ML, hep-th"
        )
    if match["archive"] not in ARCHIVES:
        choice = unknown_choice("arXiv archive", match["archive"], ARCHIVES)
        raise InputError(f"in category {category!r}: {choice}")
    return text


def build_query(categories: Sequence[str], days: int, now: dt.datetime) -> str:
    """arXiv search query: any of ``categories``, submitted in the ``days`` before ``now`` (UTC)."""
    start = now - dt.timedelta(days=days)
    either = " OR ".join(f"cat:{category}" for category in categories)
    return f"({either}) AND submittedDate:[{start:%Y%m%d%H%M} TO {now:%Y%m%d%H%M}]"


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: arxiv 4.0 calls ``session.get`` without one, so a
    network that silently drops packets would otherwise hang the command forever."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _client(api_url: str, page_size: int, timeout: float, retries: int) -> arxiv.Client:
    # arXiv's terms of use ask for at most one request every three seconds.
    client = arxiv.Client(page_size=page_size, delay_seconds=3.0, num_retries=retries)
    client.query_url_format = api_url + "?{}"
    session = getattr(client, "_session", None)  # private in arxiv 4.0; no public hook
    if isinstance(session, requests.Session):
        for prefix in ("https://", "http://"):
            session.mount(prefix, _TimeoutAdapter(timeout))
    return client


def _reason(exc: Exception, timeout: float) -> str:
    """A short cause for a failed request: DNS, refused, timed out, HTTP status."""
    if isinstance(exc, arxiv.HTTPError):
        return f"HTTP {exc.status}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text or "resolve" in text:
        return "DNS lookup failed (no network?)"
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, arxiv.ArxivError):
        return exc.message
    return type(exc).__name__


def fetch_recent(
    categories: list[str],
    days: int,
    max_results: int,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    now: dt.datetime | None = None,
    api_url: str = API_URL,
) -> list[Paper]:
    """Papers submitted to any of ``categories`` in the last ``days`` days, newest first.

    Parameters
    ----------
    categories : arXiv categories such as ``cs.LG``; at least one.
    days : how far back to look, counted from ``now`` (default: the current UTC time).
    max_results : at most this many papers.
    timeout : seconds to wait for each HTTP response.
    retries : extra tries per page after a failed request.
    api_url : the query endpoint; tests point it at a local server.

    Raises
    ------
    InputError : a malformed category, ``days`` or ``max_results`` below 1.
    NetworkError : the API cannot be reached or answers with an HTTP error.
    """
    if not categories:
        raise InputError("give at least one arXiv category, for example cs.LG")
    wanted = [validate_category(category) for category in categories]
    if days < 1 or max_results < 1:
        raise InputError(f"days and max_results must be at least 1, got {days} and {max_results}")
    query = build_query(wanted, days, now or dt.datetime.now(dt.UTC))
    search = arxiv.Search(
        query=query, max_results=max_results, sort_by=arxiv.SortCriterion.SubmittedDate
    )
    client = _client(api_url, min(max_results, 200), timeout, retries)
    host = urlsplit(api_url).netloc
    try:
        results = list(client.results(search))
    except (requests.RequestException, arxiv.ArxivError) as exc:
        raise NetworkError(
            f"cannot reach the arXiv API ({host}): {_reason(exc, timeout)}; "
            "check the network or ingest a saved Atom file with --format arxiv-atom"
        ) from exc
    papers = []
    for result in results:
        record = to_record(entry_from_result(result), API_SOURCE, f"arXiv API ({host})", None)
        if isinstance(record, Problem):
            log.warning("skipped %s", record)
        else:
            papers.append(record)
    return papers
