"""One parser per input format, the suffixes that name each format, and format detection.

Every parser is a generator of `Paper` and `Problem` records for one file, so a bad record
costs that record only and is reported with its file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from paperrec.errors import UnknownFormatError, unknown_choice
from paperrec.papers.sources.arxiv import parse_arxiv_atom
from paperrec.papers.sources.base import Record
from paperrec.papers.sources.hf_page import parse_hf_page
from paperrec.papers.sources.tabular import parse_csv, parse_jsonl, parse_parquet

Parser = Callable[[Path, str], Iterator[Record]]

PARSERS: dict[str, Parser] = {
    "hf-page": parse_hf_page,
    "jsonl": parse_jsonl,
    "csv": parse_csv,
    "parquet": parse_parquet,
    "arxiv-atom": parse_arxiv_atom,
}
FORMATS = ("auto", *PARSERS)

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".xml": "arxiv-atom",
    ".atom": "arxiv-atom",
    ".txt": "hf-page",
}


def detect_format(path: Path) -> str:
    """Format of ``path`` from its suffix, else from its first bytes."""
    by_suffix = SUFFIXES.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip().decode("utf-8", errors="replace")
    if head.startswith("{"):
        return "jsonl"
    if head.startswith("<?xml") or head.startswith("<feed"):
        return "arxiv-atom"
    if "trending papers" in head or "Subscribe" in head:
        return "hf-page"
    raise UnknownFormatError(
        "cannot tell the format from the name or content; pass --format, one of: "
        + ", ".join(PARSERS),
        path=str(path),
    )


def read_path(path: Path, fmt: str = "auto") -> Iterator[Record]:
    """Records of one file in format ``fmt`` ("auto" detects it); source name = format."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in PARSERS:
        raise UnknownFormatError(unknown_choice("format", fmt, FORMATS), path=str(path))
    return PARSERS[fmt](path, fmt)
