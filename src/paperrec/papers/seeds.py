"""Seed papers for a new user: arXiv ids, or files of papers they like (JSONL, CSV, Atom,
HF papers page, BibTeX).

A seed spec is either a path to a file or a comma-separated list of paper ids (arXiv ids
with or without version, abs/pdf URLs, or any id the store already holds). Reading seeds
does no I/O beyond the files named: papers found in files are returned for ingest, bare ids
are returned as references the store must already hold (there is no network here).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware, NormalizeFieldKeys

from paperrec.errors import InputError
from paperrec.papers.sources import SUFFIXES, Problem, read_path
from paperrec.schema import Paper, split_arxiv_id

BIBTEX_SUFFIXES = (".bib", ".bibtex")
# Suffixes that mark a seed spec as a file name, so a typo in a path is reported as a
# missing file rather than as an unknown paper id.
_FILE_SUFFIXES = (*BIBTEX_SUFFIXES, *SUFFIXES)
_ID_SPLIT = re.compile(r"[\s,]+")
# arXiv ids inside free-text fields: abs/pdf URLs, "arXiv:2401.01234", DOIs "10.48550/arXiv.X".
_ARXIV_IN_TEXT = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|:|\.)\s*"
    r"(?P<id>[a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?|\d{4}\.\d{4,5}(?:v\d+)?)",
    re.IGNORECASE,
)
_ID_FIELDS = ("eprint", "arxivid", "arxiv_id", "arxiv")
_TEXT_FIELDS = ("url", "doi", "journal", "note", "howpublished")


@dataclass(frozen=True, slots=True)
class ArxivRef:
    """A BibTeX entry without an abstract: only its arXiv id can seed, if the store has it."""

    id: str
    path: str
    line: int | None


@dataclass
class SeedSet:
    """What a user's seed specs name.

    ``papers`` come with title and abstract and are ingested; ``refs`` are ids the store
    must already hold; ``problems`` are records of seed files that could not be read.
    """

    papers: list[Paper] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's warnings while we report the same failures as Problems."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _field(entry, key: str) -> str:
    found = entry.get(key)
    return str(found.value).strip() if found is not None and found.value is not None else ""


def _entry_arxiv_id(entry) -> str | None:
    """The arXiv id of a BibTeX entry from eprint-like fields, else from URL/DOI/journal."""
    prefix = _field(entry, "archiveprefix").lower()
    for key in _ID_FIELDS:
        value = _field(entry, key)
        if value and (key != "eprint" or prefix in ("", "arxiv")):
            parsed = split_arxiv_id(value)
            if parsed:
                return value
    for key in _TEXT_FIELDS:
        match = _ARXIV_IN_TEXT.search(_field(entry, key))
        if match:
            return match.group("id")
    return None


def _entry_record(entry, name: str, source: str) -> Paper | Problem | ArxivRef:
    line = entry.start_line + 1 if entry.start_line is not None else None  # 0-based in bibtexparser
    title, abstract = _field(entry, "title"), _field(entry, "abstract")
    arxiv_id = _entry_arxiv_id(entry)
    if not title:
        return Problem(name, line, f"entry {entry.key!r} has no title")
    if not abstract:
        if arxiv_id:
            return ArxivRef(arxiv_id, name, line)
        return Problem(
            name, line, f"entry {entry.key!r} has neither an abstract nor an arXiv id (eprint)"
        )
    authors = [a.strip() for a in _field(entry, "author").split(" and ") if a.strip()]
    primary = _field(entry, "primaryclass")
    return Paper.create(
        title,
        abstract,
        id=arxiv_id,
        categories=(primary,) if primary else (),
        authors=authors,
        source=source,
    )


def parse_bibtex(path: Path, source: str = "bibtex") -> Iterator[Paper | Problem | ArxivRef]:
    """Records of a BibTeX file: title, abstract and arXiv id (eprint, URL, DOI) per entry.

    LaTeX accents and braces are decoded to plain text. Entries without an abstract but
    with an arXiv id come back as `ArxivRef`; unparseable blocks as `Problem`.
    """
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Problem(name, None, f"not UTF-8 ({exc.reason} at byte {exc.start}); save as UTF-8")
        return
    with _quiet("bibtexparser"):
        library = bibtexparser.parse_string(
            text, append_middleware=[NormalizeFieldKeys(), LatexDecodingMiddleware()]
        )
    for block in library.failed_blocks:
        reason = getattr(block.error, "abort_reason", None) or str(block.error) or "malformed entry"
        line = block.start_line + 1 if block.start_line is not None else None
        yield Problem(name, line, f"unreadable BibTeX: {reason.strip()}")
    for entry in library.entries:
        yield _entry_record(entry, name, source)


def is_bibtex(path: Path) -> bool:
    """True for ``.bib`` files, or files whose first non-blank character is ``@``."""
    if path.suffix.lower() in BIBTEX_SUFFIXES:
        return True
    with path.open("rb") as handle:
        return handle.read(1024).lstrip().startswith(b"@")


def read_seed_file(path: Path) -> Iterator[Paper | Problem | ArxivRef]:
    """Records of one seed file: BibTeX, or any format `paperrec.papers.sources` reads."""
    if is_bibtex(path):
        return parse_bibtex(path)
    return read_path(path, "auto")


def _split_ids(spec: str) -> list[str]:
    """Ids of a comma-separated spec; raises when a token names a file that is not there."""
    tokens = [t for t in _ID_SPLIT.split(spec.strip()) if t]
    for token in tokens:
        if split_arxiv_id(token) is None and token.lower().endswith(_FILE_SUFFIXES):
            raise InputError(f"no such seed file: {token}")
    return tokens


def read_seeds(specs: Iterable[str | Path]) -> SeedSet:
    """Collect the papers and ids named by seed specs (files or comma-separated ids).

    Raises
    ------
    InputError
        A named file is missing, or a seed file yields no usable record at all.
    """
    seeds = SeedSet()
    for spec in specs:
        path = Path(spec)
        try:
            is_file = path.is_file()
        except OSError:  # e.g. a list of ids longer than a file name may be
            is_file = False
        if not is_file:
            seeds.refs.extend(_split_ids(str(spec)))
            continue
        usable, before = 0, len(seeds.problems)
        for record in read_seed_file(path):
            if isinstance(record, Problem):
                seeds.problems.append(record)
            elif isinstance(record, ArxivRef):
                seeds.refs.append(record.id)
                usable += 1
            else:
                seeds.papers.append(record.with_source("seed"))
                usable += 1
        if not usable:
            first = "; ".join(str(p) for p in seeds.problems[before:][:3]) or "the file is empty"
            raise InputError(f"no seed papers could be read ({first})", path=str(path))
    return seeds
