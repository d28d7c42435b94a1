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

from paperrec.papers.sources.base import Problem, Record, check_paper
from paperrec.schema import Paper

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


def _content_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or _is_chrome(line):
            continue
        # Only the first content line can be glued to the "Subscribe" button; a later
        # title such as "Subscriber Churn ..." must keep its first word.
        if not lines and line.startswith(_GLUED_PREFIX) and len(line) > len(_GLUED_PREFIX):
            line = line[len(_GLUED_PREFIX) :].strip()
        lines.append((number, line))
    return lines


def _looks_like_abstract(line: str) -> bool:
    return len(line) >= MIN_ABSTRACT_CHARS and " " in line


def _is_abstract(line: str, following: str | None) -> bool:
    """Whether ``line``, read after a title, is that title's abstract.

    A long title (over MIN_ABSTRACT_CHARS) after a title that lost its abstract would
    pass for prose; it is a title when the line after it is longer prose, because an
    abstract is always longer than the next paper's title.
    """
    if not _looks_like_abstract(line):
        return False
    return not (
        following is not None
        and len(line) <= MAX_TITLE_CHARS
        and _looks_like_abstract(following)
        and len(following) > len(line)
    )


def parse_hf_page(path: Path, source: str = "hf-page") -> Iterator[Record]:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 ({exc.reason} at byte {exc.start}); save the page as UTF-8"
        yield Problem(name, None, reason)
        return
    pending: tuple[int, str] | None = None  # a title waiting for its abstract
    lines = _content_lines(text)
    for index, (number, line) in enumerate(lines):
        if pending is None:
            if len(line) > MAX_TITLE_CHARS:
                yield Problem(name, number, "text without a title before it; skipped")
            else:
                pending = (number, line)
            continue
        title_line, title = pending
        following = lines[index + 1][1] if index + 1 < len(lines) else None
        if _is_abstract(line, following):
            yield check_paper(Paper.create(title, line, source=source), name, title_line)
            pending = None
        else:  # the line is the next title: the pending one lost its abstract
            yield Problem(name, title_line, f"title {title[:60]!r} has no abstract; skipped")
            pending = (number, line)
    if pending is not None:
        yield Problem(name, pending[0], f"title {pending[1][:60]!r} has no abstract; skipped")
