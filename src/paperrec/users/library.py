"""A reader's library: the papers they liked, saved and disliked, taking a vote back,
importing papers they already like (BibTeX, Zotero's BibTeX or CSL JSON, arXiv ids) and
exporting what they rated as JSON or BibTeX.

An import is checked whole before anything is written: a file with a broken entry, an id
the store does not hold, or nothing usable is refused with the reason, and the store is
left as it was. Imported papers are saved (signal ``saved``) for the reader.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from paperrec.digest.content import arxiv_url
from paperrec.errors import InputError, NetworkError, NotFoundError
from paperrec.papers.ingest import ingest_papers
from paperrec.papers.seeds import ArxivRef, parse_bibtex
from paperrec.papers.sources import Problem
from paperrec.schema import FeedbackSource, Paper, Signal, split_arxiv_id
from paperrec.store import Store
from paperrec.store.users import latest_signals

SHELVES = {"liked": "Liked", "saved": "Saved", "disliked": "Less like this"}
MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_PAPERS = 500
_ID_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Shelved:
    paper: Paper
    signal: str
    when: dt.datetime
    abs_url: str | None


def shelves(store: Store, user: str) -> dict[str, list[Shelved]]:
    """The reader's papers by shelf (latest vote winning), newest vote first."""
    latest = latest_signals(store.users.feedback(user))
    papers = {p.id: p for p in store.papers.get_many(list(latest))}
    out: dict[str, list[Shelved]] = {shelf: [] for shelf in SHELVES}
    for event in sorted(latest.values(), key=lambda e: e.created_at, reverse=True):
        shelf = {Signal.UP: "liked", Signal.SEED: "liked", Signal.SAVED: "saved",
                 Signal.DOWN: "disliked"}.get(event.signal)  # fmt: skip
        paper = papers.get(event.paper_id)
        if shelf and paper is not None:
            out[shelf].append(
                Shelved(paper, event.signal.value, event.created_at, arxiv_url(paper.id))
            )
    return out


def undo(store: Store, user: str, paper_id: str) -> int:
    """Take back every vote of ``user`` on a paper; NotFoundError when there was none."""
    removed = store.activity.take_back(user, paper_id)
    if not removed:
        raise NotFoundError(f"you have no vote on {paper_id!r} to undo")
    return removed


def _csl_json(data: bytes, name: str) -> tuple[list[Paper | ArxivRef], list[Problem]]:
    """Records of a CSL JSON export (Zotero: a list of items with title, abstract, URL)."""
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [Problem(name, None, f"not CSL JSON ({exc})")]
    if not isinstance(items, list):
        return [], [Problem(name, None, "CSL JSON must be a list of items")]
    records: list[Paper | ArxivRef] = []
    problems: list[Problem] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not str(item.get("title", "")).strip():
            problems.append(Problem(name, None, f"item {n} has no title"))
            continue
        text = " ".join(str(item.get(k, "")) for k in ("URL", "DOI", "number", "note", "id"))
        found = re.search(r"(\d{4}\.\d{4,5})(v\d+)?", text)
        arxiv_id = found.group(0) if found else None
        abstract = str(item.get("abstract", "")).strip()
        if abstract:
            authors = [
                " ".join(filter(None, (a.get("given"), a.get("family"))))
                for a in item.get("author", []) if isinstance(a, dict)
            ]  # fmt: skip
            records.append(Paper.create(item["title"], abstract, id=arxiv_id, authors=authors))
        elif arxiv_id:
            records.append(ArxivRef(arxiv_id, name, None))
        else:
            problems.append(
                Problem(name, None, f"item {n} has neither an abstract nor an arXiv id")
            )
    return records, problems


def _records(filename: str, data: bytes) -> tuple[list[Paper | ArxivRef], list[Problem]]:
    suffix = Path(filename).suffix.lower()
    if suffix in (".bib", ".bibtex") or data.lstrip().startswith(b"@"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "import.bib"
            path.write_bytes(data)
            found = list(parse_bibtex(path, source="import"))
        problems = [Problem(filename, p.line, p.message) for p in found if isinstance(p, Problem)]
        return [r for r in found if not isinstance(r, Problem)], problems
    if suffix == ".json" or data.lstrip().startswith(b"["):
        return _csl_json(data, filename)
    text = data.decode("utf-8", "replace")
    ids = [t for t in _ID_SPLIT.split(text) if t]
    bad = [t for t in ids if split_arxiv_id(t) is None]
    if bad:
        return [], [Problem(filename, None, f"not arXiv ids: {', '.join(bad[:5])}")]
    return [ArxivRef(t, filename, None) for t in ids], []


@dataclass(frozen=True)
class Imported:
    saved: tuple[str, ...]
    added: int


def import_papers(
    store: Store,
    user: str,
    filename: str,
    data: bytes,
    fetch: Callable[[list[str]], tuple[list[Paper], list[Problem]]] | None = None,
) -> Imported:
    """Save every paper of an upload for ``user`` (a BibTeX file, a CSL JSON export, or
    arXiv ids separated by spaces, commas or lines); all or nothing.

    Raises
    ------
    InputError
        Too large, a broken entry (file and line named), nothing usable, too many papers.
    NotFoundError
        arXiv ids neither the store nor arXiv holds (``fetch``, when given, asks arXiv).
    NetworkError
        Ids the store does not hold while arXiv cannot be reached (offline).
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise InputError(f"the file is over {MAX_IMPORT_BYTES // 1024} kB; nothing was imported")
    store.users.get(user)
    records, problems = _records(filename, data)
    if problems:
        listed = "; ".join(
            f"line {p.line}: {p.message}" if p.line else p.message for p in problems[:3]
        )
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(
            f"{filename} has entries that cannot be read: {listed}{more}; nothing was imported"
        )
    if not records:
        raise InputError(f"{filename} holds no papers; nothing was imported")
    if len(records) > MAX_IMPORT_PAPERS:
        raise InputError(
            f"{filename} holds {len(records)} papers; at most {MAX_IMPORT_PAPERS} at once"
        )
    papers = [r for r in records if isinstance(r, Paper)]
    refs = [r.id for r in records if isinstance(r, ArxivRef)]
    resolved = store.papers.resolve_ids(refs)
    in_file = {p.id for p in papers}
    missing = [r for r in refs if r not in resolved and split_arxiv_id(r)[0] not in in_file]
    if missing and fetch is not None:
        try:
            fetched, unknown = fetch(missing)
        except NetworkError as exc:
            raise NetworkError(
                f"{', '.join(missing[:10])} not in the paper store, and {exc}; nothing was imported"
            ) from None
        if unknown:
            listed = "; ".join(p.message for p in unknown[:10])
            raise NotFoundError(f"not found on arXiv: {listed}; nothing was imported")
        papers += fetched
        missing = []
    if missing:
        raise NotFoundError(
            f"not in the paper store: {', '.join(missing[:10])}; nothing was imported. An "
            "administrator can fetch them (paperrec ingest arxiv --id ...) when online"
        )
    summary = ingest_papers(
        store.papers, papers, "import", batch_size=store.settings.ingest_batch_size
    )
    ids = list(dict.fromkeys([*summary.counts.ids, *(resolved[r] for r in refs if r in resolved)]))
    for paper_id in ids:
        store.users.add_feedback(user, paper_id, Signal.SAVED, FeedbackSource.WEB)
    return Imported(tuple(ids), summary.counts.added)


def export_records(store: Store, user: str) -> list[dict]:
    """Every paper the reader rated, with their latest vote, as JSON-ready rows."""
    rows = []
    for shelf, items in shelves(store, user).items():
        for item in items:
            p = item.paper
            rows.append({
                "id": p.id, "title": p.title, "authors": list(p.authors),
                "date": p.date.isoformat() if p.date else None, "shelf": shelf,
                "signal": item.signal, "voted_at": item.when.isoformat(timespec="seconds"),
                "url": item.abs_url,
            })  # fmt: skip
    return rows


def _bibtex_escape(text: str) -> str:
    return text.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}")


def export_bibtex(
    store: Store, user: str, shelves_wanted: Sequence[str] = ("liked", "saved")
) -> str:
    """The reader's liked and saved papers as BibTeX entries (arXiv ids as eprint)."""
    entries = []
    for shelf, items in shelves(store, user).items():
        if shelf not in shelves_wanted:
            continue
        for item in items:
            p = item.paper
            key = re.sub(r"[^A-Za-z0-9]", "", p.id) or "paper"
            fields = {
                "title": _bibtex_escape(p.title),
                "author": " and ".join(_bibtex_escape(a) for a in p.authors),
                "year": str(p.date.year) if p.date else "",
                "abstract": _bibtex_escape(p.abstract),
            }
            parsed = split_arxiv_id(p.id)
            if parsed:
                fields.update(
                    eprint=parsed[0],
                    archiveprefix="arXiv",
                    url=f"https://arxiv.org/abs/{parsed[0]}",
                )
            body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
            entries.append(f"@article{{{key},\n{body}\n}}\n")
    return "\n".join(entries)
