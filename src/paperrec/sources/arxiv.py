"""arXiv: Atom XML parsing (offline) and the live API. Placeholder until implemented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from paperrec.sources.base import Record


def parse_arxiv_atom(path: Path, source: str = "arxiv-atom") -> Iterator[Record]:
    raise NotImplementedError
