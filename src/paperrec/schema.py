"""Plain data records shared by every module: papers, feedback signals, ranked results.

Nothing here does I/O. A `Paper` is keyed by its arXiv id when one is known (version
suffix removed) and otherwise by a stable hash of its normalised title, so the same paper
from an HF page, a JSONL dump and the arXiv API lands on one row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum

_ARXIV_NEW = re.compile(r"^(?P<id>\d{4}\.\d{4,5})(?:v(?P<v>\d+))?$")
_ARXIV_OLD = re.compile(r"^(?P<id>[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?$")
_ARXIV_PREFIX = re.compile(r"^(?:https?://arxiv\.org/(?:abs|pdf)/|arxiv:)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
TITLE_KEY_PREFIX = "title:"


def split_arxiv_id(raw: str) -> tuple[str, int | None] | None:
    """``'2401.01234v3'`` -> ``('2401.01234', 3)``; None when ``raw`` is not an arXiv id.

    Accepts abs/pdf URLs and the ``arXiv:`` prefix, and old-style ids like ``hep-th/9901001``.
    """
    text = _ARXIV_PREFIX.sub("", raw.strip())
    text = text.removesuffix(".pdf")
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        match = pattern.match(text)
        if match:
            version = match.group("v")
            return match.group("id"), int(version) if version else None
    return None


# One rule for user names, in the CLI, the library and the HTTP service alike: 1 to 64
# letters or digits (any script) and . _ @ + -, starting with a letter or digit. No spaces,
# slashes, newlines or control characters, so a name is safe in a file name, a URL, a log
# line and an email header.
USER_NAME = re.compile(r"[^\W_][\w.@+-]{0,63}")
USER_NAME_RULE = (
    "1 to 64 letters, digits and . _ @ + -, starting with a letter or digit "
    "(no spaces, slashes or control characters)"
)


def check_user_name(name: str) -> str:
    """``name`` if it follows `USER_NAME`; ValueError saying the rule otherwise."""
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
        raise ValueError(f"user name {shown!r} is not allowed: use {USER_NAME_RULE}")
    return name


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds anything a reader could see: not only spaces, zero-width
    characters (U+200B, U+FEFF, ...), NUL or other control characters."""
    return any(
        not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
        for ch in text
    )


def normalize_text(text: str) -> str:
    """NFC, collapsed whitespace, stripped: the form that is hashed and embedded."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def normalize_title(title: str) -> str:
    """Case- and punctuation-insensitive title, for dedupe across sources."""
    folded = unicodedata.normalize("NFKD", title).casefold()
    letters = "".join(ch if ch.isalnum() else " " for ch in folded if not unicodedata.combining(ch))
    return _SPACES.sub(" ", letters).strip()


def title_key(title: str) -> str:
    digest = hashlib.sha256(normalize_title(title).encode("utf-8")).hexdigest()[:16]
    return TITLE_KEY_PREFIX + digest


def content_hash(title: str, abstract: str) -> str:
    """Hash of the text a model sees; the embedding cache is keyed by it."""
    payload = normalize_text(title) + "\n" + normalize_text(abstract)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper. ``categories`` keep arXiv's order: primary first, then cross-lists."""

    id: str
    title: str
    abstract: str
    categories: tuple[str, ...] = ()
    date: dt.date | None = None
    source: str = ""
    version: int | None = None
    authors: tuple[str, ...] = field(default=())
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Hashing normalises the text, which costs more than the rest of a read from the
        # store; rows carry their stored hash and only new records compute one.
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.title, self.abstract))

    @classmethod
    def create(
        cls,
        title: str,
        abstract: str,
        *,
        id: str | None = None,
        categories=(),
        date: dt.date | None = None,
        source: str = "",
        authors=(),
    ) -> Paper:
        """Normalise text and derive the key: arXiv id (version split off) or a title hash."""
        title, abstract = normalize_text(title), normalize_text(abstract)
        version = None
        paper_id = (id or "").strip()
        parsed = split_arxiv_id(paper_id) if paper_id else None
        if parsed:
            paper_id, version = parsed
        elif not paper_id:
            paper_id = title_key(title)
        return cls(
            id=paper_id,
            title=title,
            abstract=abstract,
            categories=tuple(categories),
            date=date,
            source=source,
            version=version,
            authors=tuple(authors),
        )

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    @property
    def text(self) -> str:
        """What the embedding model reads: title, then abstract."""
        return f"{self.title}. {self.abstract}" if self.abstract else self.title

    def with_source(self, source: str) -> Paper:
        return replace(self, source=source)


class Signal(StrEnum):
    """Feedback a user gives on a paper; ``up`` and ``saved`` count as liked."""

    UP = "up"
    DOWN = "down"
    SAVED = "saved"
    DISMISSED = "dismissed"
    SEED = "seed"

    @property
    def is_positive(self) -> bool:
        return self in (Signal.UP, Signal.SAVED, Signal.SEED)

    @property
    def is_negative(self) -> bool:
        return self is Signal.DOWN


# What a user can say about a paper; ``seed`` is set only when a user is created.
FEEDBACK_SIGNALS: tuple[Signal, ...] = (Signal.UP, Signal.DOWN, Signal.SAVED, Signal.DISMISSED)


class FeedbackSource(StrEnum):
    CLI = "cli"
    HTTP = "http"
    DIGEST = "digest"
    WEB = "web"
    SEED = "seed"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str
    topics: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    uid: str = ""  # never reused; what feedback links are bound to
    token_generation: int = 0  # advanced by a key rotation; older links stop working


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    user: str
    paper_id: str
    signal: Signal
    source: FeedbackSource
    created_at: dt.datetime
