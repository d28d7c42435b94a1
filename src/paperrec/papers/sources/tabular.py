"""JSON Lines, CSV and Parquet files: columns ``id, title, abstract, categories, date, authors``.

``id`` may be an arXiv id (with or without version) or anything else, or absent (the title
then keys the paper); ``categories`` is optional: a JSON list in JSONL, and in CSV a list
separated by spaces, commas or semicolons; ``date`` is ISO (YYYY-MM-DD, a longer timestamp
is cut to its date); ``authors`` is optional: a JSON list of names in JSONL, and in CSV
names separated by semicolons (names themselves may hold commas: "Lovelace, Ada").
Parquet columns take JSONL's types (lists as lists; a date column may also be a date type).
Other keys are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

from paperrec.papers.sources.base import Problem, Record, check_paper
from paperrec.schema import Paper

REQUIRED = ("title", "abstract")
_CATEGORY_SPLIT = re.compile(r"[\s,;]+")


def _parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):  # Parquet timestamp and date columns
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"date must be a string like 2025-03-18, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(f"date {value!r} is not a valid ISO date (YYYY-MM-DD)") from None


def _parse_categories(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(c for c in _CATEGORY_SPLIT.split(value.strip()) if c)
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return tuple(c.strip() for c in value if c.strip())
    raise ValueError("categories must be a list of strings or a space-separated string")


def _parse_authors(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(";") if name.strip())
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(name.strip() for name in value if name.strip())
    raise ValueError("authors must be a list of names or a semicolon-separated string")


def record_to_paper(row: dict, path: str, line: int, source: str) -> Record:
    """One mapping (a JSONL object or CSV row) to a Paper, or a Problem saying what is wrong."""
    missing = [key for key in REQUIRED if key not in row]
    if missing:
        message = f"missing field(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}"
        return Problem(path, line, message)
    for key in ("title", "abstract"):
        if not isinstance(row[key], str):
            got = type(row[key]).__name__
            return Problem(path, line, f"field {key!r} must be a string, got {got}")
    raw_id = row.get("id")
    # bool is an int subclass; without the check ``"id": true`` became the id "True".
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        return Problem(path, line, f"field 'id' must be a string, got {type(raw_id).__name__}")
    try:
        paper = Paper.create(
            row["title"],
            row["abstract"],
            id=str(raw_id) if raw_id not in (None, "") else None,
            categories=_parse_categories(row.get("categories")),
            date=_parse_date(row.get("date")),
            source=source,
            authors=_parse_authors(row.get("authors")),
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


def _bad_bytes(row: dict) -> str | None:
    """The first undecodable byte in a CSV row read with ``surrogateescape``, if any."""
    for value in row.values():
        for cell in value if isinstance(value, list) else [value]:
            for char in cell or "":
                if "\udc80" <= char <= "\udcff":
                    return f"0x{ord(char) - 0xDC00:02x}"
    return None


def _csv_rows(reader: csv.DictReader) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, row, error) per record; a malformed record costs that record only."""
    rows = iter(reader)
    while True:
        start = reader.line_num + 1  # where the next record begins (the reader lags on errors)
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"malformed CSV: {exc}"
            continue
        yield reader.line_num, row, None


def parse_csv(path: Path, source: str = "csv") -> Iterator[Record]:
    name = str(path)
    # surrogateescape keeps undecodable bytes as markers, so only their row is lost.
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    # strict: a stray or unterminated quote (a truncated file) is an error, not a
    # silently shortened abstract.
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    header = reader.fieldnames or []
    missing = [key for key in REQUIRED if key not in header]
    if missing:
        expected = "expected columns: id, title, abstract, categories, date"
        yield Problem(name, 1, f"header lacks {', '.join(missing)}; {expected}")
        return
    for line, row, error in _csv_rows(reader):
        if error is not None:
            yield Problem(name, line, error)
        elif None in row:  # more cells than header columns
            cells = len(header) + len(row[None])
            yield Problem(name, line, f"{cells} cells for {len(header)} columns")
        elif (byte := _bad_bytes(row)) is not None:
            yield Problem(name, line, f"not UTF-8 (byte {byte}); save the file as UTF-8")
        elif any((v or "").strip() for v in row.values()):
            cells = {k: v for k, v in row.items() if v is not None}
            yield record_to_paper(cells, name, line, source)


# Rows read from a Parquet file at a time: bounded memory on a large dump.
PARQUET_BATCH_ROWS = 10_000


def parse_parquet(path: Path, source: str = "parquet") -> Iterator[Record]:
    """Rows of a Parquet file (row numbers count from 1, as lines do)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = str(path)
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        yield Problem(name, 1, f"not a readable Parquet file ({exc})")
        return
    missing = [key for key in REQUIRED if key not in table.schema_arrow.names]
    if missing:
        expected = "expected columns: id, title, abstract, categories, date, authors"
        yield Problem(name, 1, f"no column {', '.join(missing)}; {expected}")
        return
    number = 0
    for batch in table.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            yield record_to_paper(row, name, number, source)
