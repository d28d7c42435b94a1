"""Input rows for ``score`` and ``rank`` (``id``, ``title``, ``abstract``; other keys
ignored) and JSON Lines output. The ids written back are the ids given."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from paperrec.errors import InputError
from paperrec.papers.sources import Problem, papers_of
from paperrec.papers.sources.tabular import parse_jsonl
from paperrec.schema import Paper, has_visible_text
from paperrec.store.files import write_output

MAX_SHOWN_PROBLEMS = 5


@dataclass(frozen=True)
class InputPaper:
    """A paper as the caller named it: ``id`` is echoed back unchanged."""

    id: str
    paper: Paper


def paper_from_fields(id: str, title: str, abstract: str) -> InputPaper:
    """Validate one record (the service's path; files go through ``read_rows``)."""
    paper = Paper.create(title, abstract, id=id or None)
    if not has_visible_text(paper.title):
        raise InputError(f"paper {id!r}: title is empty (or only invisible characters)")
    if not has_visible_text(paper.abstract):
        raise InputError(f"paper {id!r}: abstract is empty (or only invisible characters)")
    return InputPaper(id or paper.id, paper)


def read_rows(path: Path) -> list[InputPaper]:
    """Papers of a JSON Lines file, all or nothing: any bad row raises with its line."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    raw_ids: list[str] = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                row = json.loads(line)
                raw_ids.append(str(row.get("id", "")) if isinstance(row, dict) else "")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raw_ids.append("")
    problems: list[Problem] = []
    records = list(papers_of(parse_jsonl(path, source="input"), problems))
    if problems:
        shown = "; ".join(str(p) for p in problems[:MAX_SHOWN_PROBLEMS])
        more = (
            f" (and {len(problems) - MAX_SHOWN_PROBLEMS} more)"
            if len(problems) > MAX_SHOWN_PROBLEMS
            else ""
        )
        raise InputError(f"{len(problems)} bad row(s), nothing written: {shown}{more}")
    blank = [
        f"{path}: paper {n}: {field} has no visible text"
        for n, paper in enumerate(records, start=1)
        for field, text in (("title", paper.title), ("abstract", paper.abstract))
        if not has_visible_text(text)
    ]
    if blank:
        raise InputError(f"{len(blank)} bad row(s), nothing written: {'; '.join(blank[:5])}")
    non_blank = [i for i, line in enumerate(path.read_bytes().splitlines()) if line.strip()]
    return [
        InputPaper(raw_ids[i] or paper.id, paper)
        for i, paper in zip(non_blank, records, strict=True)
    ]


def write_rows(path: Path | None, rows: Iterable[dict]) -> None:
    """Write JSON Lines to ``path`` (``-`` or None: stdout) with `write_output`: atomically
    over a regular file, directly into a device or pipe."""
    write_output(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def ids_of(papers: Sequence[InputPaper]) -> list[str]:
    return [p.id for p in papers]
