"""The live arXiv API: the only module in paperrec that opens a network connection.

`fetch_recent` asks for the papers of some categories submitted in the last days,
`fetch_ids` for papers by arXiv id; each ``arxiv.Result`` becomes the same `ArxivEntry` a
saved Atom file gives (`paperrec.papers.sources.arxiv`), so both roads store identical
papers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import arxiv
import requests
from requests.adapters import HTTPAdapter

from paperrec.errors import InputError, NetworkError, unknown_choice
from paperrec.papers.sources.arxiv import ArxivEntry, to_record
from paperrec.papers.sources.base import Problem
from paperrec.schema import Paper, split_arxiv_id

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
    papers, problems = _fetch(search, api_url, min(max_results, 200), timeout, retries)
    for problem in problems:
        log.warning("skipped %s", problem)
    return papers


def fetch_ids(
    ids: Sequence[str],
    *,
    timeout: float = 30.0,
    retries: int = 3,
    api_url: str = API_URL,
) -> tuple[list[Paper], list[Problem]]:
    """The papers with these arXiv ids (``2401.01234``, ``2401.01234v2``, ``hep-th/9901001``),
    in the order the API returns them, and a Problem for each id it does not know.

    Raises
    ------
    InputError : no ids, or one that is not an arXiv id.
    NetworkError : the API cannot be reached or answers with an HTTP error.
    """
    if not ids:
        raise InputError("give at least one arXiv id, for example 2401.01234")
    wanted = []
    for raw in ids:
        parsed = split_arxiv_id(raw)
        if parsed is None:
            raise InputError(f"{raw!r} is not an arXiv id (for example 2401.01234 or 2401.01234v2)")
        wanted.append(parsed[0] + (f"v{parsed[1]}" if parsed[1] else ""))
    search = arxiv.Search(id_list=wanted, max_results=len(wanted))
    papers, problems = _fetch(search, api_url, min(len(wanted), 200), timeout, retries)
    asked = {split_arxiv_id(raw)[0] for raw in wanted}
    papers = [paper for paper in papers if paper.id in asked]
    found = {paper.id for paper in papers}
    where = f"arXiv API ({urlsplit(api_url).netloc})"
    problems += [
        Problem(where, None, f"{raw}: no such paper")
        for raw in wanted
        if split_arxiv_id(raw)[0] not in found
    ]
    return papers, problems


def _fetch(
    search: arxiv.Search, api_url: str, page_size: int, timeout: float, retries: int
) -> tuple[list[Paper], list[Problem]]:
    """The papers of ``search`` and the entries that were not papers."""
    client = _client(api_url, page_size, timeout, retries)
    host = urlsplit(api_url).netloc
    try:
        results = list(client.results(search))
    except (requests.RequestException, arxiv.ArxivError) as exc:
        raise NetworkError(
            f"cannot reach the arXiv API ({host}): {_reason(exc, timeout)}; "
            "check the network or ingest a saved Atom file with --format arxiv-atom"
        ) from exc
    papers, problems = [], []
    for result in results:
        record = to_record(entry_from_result(result), API_SOURCE, f"arXiv API ({host})", None)
        (problems if isinstance(record, Problem) else papers).append(record)
    return papers, problems
