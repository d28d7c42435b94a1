"""Hugging Face Papers pages saved as text ("Get trending papers in your email inbox").

After the page chrome is dropped (the "new" badge, "Subscribe", "byAK and the research
community", the newsletter prompt, date lines like "Mar 12") a page is a run of title
lines, each followed by its abstract line. Some copies lose every blank line and glue the
first title to "Subscribe"; both are handled. A title without an abstract is reported with
its line number and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from paperrec.schema import Paper
from paperrec.sources.base import Problem, Record, check_paper

CHROME_LINES = frozenset({"new", "Subscribe", "byAK and the research community"})
_CHROME_PATTERNS = (
    re.compile(r"^Get trending papers in your email inbox.*$"),
    re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$"),
)
_GLUED_PREFIX = "Subscribe"
# Titles are one line of at most a few hundred characters; abstracts are longer prose.
MAX_TITLE_CHARS = 400
MIN_ABSTRACT_CHARS = 100


def _is_chrome(line: str) -> bool:
    return line in CHROME_LINES or any(p.match(line) for p in _CHROME_PATTERNS)


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or _is_chrome(line):
            continue
        if line.startswith(_GLUED_PREFIX) and len(line) > len(_GLUED_PREFIX):
            line = line[len(_GLUED_PREFIX) :].strip()
        yield number, line


def _looks_like_abstract(line: str) -> bool:
    return len(line) >= MIN_ABSTRACT_CHARS and " " in line


def parse_hf_page(path: Path, source: str = "hf-page") -> Iterator[Record]:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Problem(name, None, f"not UTF-8 ({exc.reason} at byte {exc.start}); save the page as UTF-8")
        return
    pending: tuple[int, str] | None = None  # a title waiting for its abstract
    for number, line in _content_lines(text):
        if pending is None:
            if len(line) > MAX_TITLE_CHARS:
                yield Problem(name, number, "text without a title before it; skipped")
            else:
                pending = (number, line)
            continue
        title_line, title = pending
        if _looks_like_abstract(line):
            yield check_paper(Paper.create(title, line, source=source), name, title_line)
            pending = None
        else:  # two short lines in a row: the first title lost its abstract
            yield Problem(name, title_line, f"title {title[:60]!r} has no abstract; skipped")
            pending = (number, line)
    if pending is not None:
        yield Problem(name, pending[0], f"title {pending[1][:60]!r} has no abstract; skipped")
