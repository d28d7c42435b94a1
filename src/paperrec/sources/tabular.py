"""JSON Lines and CSV files with columns ``id, title, abstract, categories, date``.

``id`` may be an arXiv id (with or without version) or anything else, or absent (the title
then keys the paper); ``categories`` is optional: a JSON list in JSONL, and in CSV a list
separated by spaces, commas or semicolons; ``date`` is ISO (YYYY-MM-DD, a longer timestamp
is cut to its date). Other keys are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

from paperrec.schema import Paper
from paperrec.sources.base import Problem, Record, check_paper

REQUIRED = ("title", "abstract")
_CATEGORY_SPLIT = re.compile(r"[\s,;]+")


def _parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"date must be a string like 2025-03-18, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(f"date {value!r} is not ISO (YYYY-MM-DD)") from None


def _parse_categories(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(c for c in _CATEGORY_SPLIT.split(value.strip()) if c)
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return tuple(c.strip() for c in value if c.strip())
    raise ValueError("categories must be a list of strings or a space-separated string")


def record_to_paper(row: dict, path: str, line: int, source: str) -> Record:
    """One mapping (a JSONL object or CSV row) to a Paper, or a Problem saying what is wrong."""
    missing = [key for key in REQUIRED if key not in row]
    if missing:
        return Problem(path, line, f"missing field(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}")
    for key in ("title", "abstract"):
        if not isinstance(row[key], str):
            return Problem(path, line, f"field {key!r} must be a string, got {type(row[key]).__name__}")
    raw_id = row.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        return Problem(path, line, f"field 'id' must be a string, got {type(raw_id).__name__}")
    try:
        paper = Paper.create(
            row["title"],
            row["abstract"],
            id=str(raw_id) if raw_id not in (None, "") else None,
            categories=_parse_categories(row.get("categories")),
            date=_parse_date(row.get("date")),
            source=source,
        )
    except ValueError as exc:
        return Problem(path, line, str(exc))
    return check_paper(paper, path, line)


def _lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, decode error) for each line, so one bad byte loses one line only."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"


def parse_jsonl(path: Path, source: str = "jsonl") -> Iterator[Record]:
    name = str(path)
    for number, text, error in _lines(path):
        if error:
            yield Problem(name, number, error)
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(name, number, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(row, dict):
            yield Problem(name, number, f"expected a JSON object, got {type(row).__name__}")
            continue
        yield record_to_paper(row, name, number, source)


def parse_csv(path: Path, source: str = "csv") -> Iterator[Record]:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Problem(name, None, f"not UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8")
        return
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames or []
    missing = [key for key in REQUIRED if key not in header]
    if missing:
        yield Problem(name, 1, f"header lacks {', '.join(missing)}; expected columns: id, title, abstract, categories, date")
        return
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                yield Problem(name, reader.line_num, f"{len(header) + len(row[None])} cells for {len(header)} columns")
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue
            yield record_to_paper({k: v for k, v in row.items() if v is not None}, name, reader.line_num, source)
    except csv.Error as exc:
        yield Problem(name, reader.line_num, f"malformed CSV: {exc}")
