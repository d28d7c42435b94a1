"""One road for papers: what a source spec names, and the papers and problems it holds.

A spec is one of

- ``arxiv:CATEGORY``: recent papers of that category from the live arXiv API
  (`paperrec.papers.sources.arxiv_api`, the only module that opens a connection);
- ``arxiv:ID`` or ``arxiv:ID,ID,...`` (``2401.01234``, ``2401.01234v2``,
  ``hep-th/9901001``), or the same ids without the prefix where no file or folder has that
  name: those papers, from the live arXiv API;
- a glob pattern (``data/*.jsonl``): the files it matches, sorted;
- a folder: the files in it whose suffix names the format asked for (``.txt`` for HF
  pages; any known suffix for ``auto``), sorted;
- a file, in any format `detect_format` knows (or the one asked for).

`expand` says which files (each with its format), categories and arXiv ids specs name,
without reading them; `papers_of` is the one place a parser's records are split into papers and
problems; `read` does both and returns a `Reading`. Ingest, retrain's refresh, seed files,
gold sets and ``--pages`` all take this road; a bad spec is one line naming it.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperrec.errors import InputError
from paperrec.papers.sources.base import Problem
from paperrec.papers.sources.formats import SUFFIXES, detect_format, read_path
from paperrec.schema import Paper, split_arxiv_id

ARXIV_PREFIX = "arxiv:"


@dataclass
class Named:
    """What specs name: files with their format, arXiv categories and arXiv ids."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    @property
    def pages(self) -> list[Path]:
        """The HF page files among them (each one a seed page for the ranker)."""
        return [path for path, fmt in self.files if fmt == "hf-page"]


@dataclass
class Reading:
    """Everything specs hold: the papers, and the records that could not be read."""

    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def expand(
    specs: Iterable[str | Path], fmt: str = "auto", *, noun: str = "source", local: bool = False
) -> Named:
    """Files, categories and arXiv ids of ``specs``; ``noun`` names them in errors ("page":
    "no such page file or folder"). InputError for a spec that names nothing, and with
    ``local`` (files and folders only, as for seed pages) for an ``arxiv:`` spec."""
    named = Named()
    for spec in specs:
        text = str(spec)
        if local and text.startswith(ARXIV_PREFIX):
            raise InputError(f"{noun} {text!r}: give a file or folder here, not the arXiv API")
        if text.startswith(ARXIV_PREFIX):
            rest = text.removeprefix(ARXIV_PREFIX).strip()
            if not rest:
                raise InputError(
                    f"{noun} {text!r} names no category or id, e.g. arxiv:cs.LG or arxiv:2401.01234"
                )
            ids = _arxiv_ids(rest)
            if ids is None:
                named.categories.append(rest)
            else:
                named.ids += ids
            continue
        ids = None if local or glob.has_magic(text) or Path(text).exists() else _arxiv_ids(text)
        if ids is not None:
            named.ids += ids
            continue
        for path in _files(text, fmt, noun):
            named.files.append((path, fmt if fmt != "auto" else detect_format(path)))
    return named


def _arxiv_ids(text: str) -> list[str] | None:
    """The arXiv ids of a comma-separated list, or None unless every item is one."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or any(split_arxiv_id(item) is None for item in items):
        return None
    return items


def _files(spec: str, fmt: str, noun: str) -> list[Path]:
    if glob.has_magic(spec):
        found = [Path(m) for m in sorted(glob.glob(spec)) if Path(m).is_file()]
        if not found:
            raise InputError(f"{noun} pattern matches no file", path=spec)
        return found
    path = Path(spec)
    if path.is_dir():
        suffixes = sorted(s for s, f in SUFFIXES.items() if fmt in ("auto", f))
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not found:
            raise InputError(f"no {'/'.join(suffixes)} {noun}s in this folder", path=spec)
        return found
    if path.exists() and not path.is_file():
        raise InputError("not a regular file (a device, pipe or socket)", path=spec)
    if not path.is_file():
        raise InputError(f"no such {noun} file or folder", path=spec)
    return [path]


def papers_of(records: Iterable, problems: list[Problem]) -> Iterator[Paper]:
    """The papers among a parser's ``records``; each problem is appended to ``problems``."""
    for record in records:
        if isinstance(record, Problem):
            problems.append(record)
        else:
            yield record


def read(
    specs: str | Path | Sequence[str | Path],
    fmt: str = "auto",
    *,
    noun: str = "source",
    arxiv_days: int = 1,
    arxiv_max_results: int = 2000,
) -> Reading:
    """The papers and problems of ``specs`` (one spec or several), read whole.

    ``arxiv:CATEGORY`` specs query the live API for the last ``arxiv_days`` days, at most
    ``arxiv_max_results`` papers; arXiv ids are fetched by id, an unknown one is a problem
    (NetworkError when the API cannot be reached).
    """
    if isinstance(specs, str | Path):
        specs = [specs]
    named = expand(specs, fmt, noun=noun)
    reading = Reading()
    for path, path_fmt in named.files:
        reading.papers += papers_of(read_path(path, path_fmt), reading.problems)
    if named.categories:
        from paperrec.papers.sources.arxiv_api import fetch_recent

        reading.papers += fetch_recent(named.categories, arxiv_days, arxiv_max_results)
    if named.ids:
        from paperrec.papers.sources.arxiv_api import fetch_ids

        papers, problems = fetch_ids(named.ids)
        reading.papers += papers
        reading.problems += problems
    return reading
