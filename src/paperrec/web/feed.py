"""A reader's ranked feed for the web app: the papers of a day or a week, best first.

The ranking is the digest's: the window's papers are prepared once
(`paperrec.digest.compose.prepare_window`, shared by every reader of that window) and each
reader's order comes from `Predictor.rank_profile`. A reader's ranking is kept for the day and
computed again only when their feedback changes (any vote, from the web, a digest link or
the CLI) or a new model serves. A vote in the web app refreshes it at once, in a background
thread (`Feed.refresh_soon`), so the reader's next Today finds it ready. Each card carries a
percentile a person can read: where the paper stands among the window's candidates for this
reader.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from paperrec.digest.compose import Window, prepare_window
from paperrec.digest.content import TopicTag, arxiv_url, pdf_url, shorten, why_line
from paperrec.errors import InputError, PaperrecError
from paperrec.recommend.rank import RankedPaper
from paperrec.schema import Paper
from paperrec.serving.holder import PredictorHolder
from paperrec.users.ranking_profile import user_profile

WINDOWS = {1: "today", 7: "last 7 days"}
RANKED_PER_READER = 100  # cards a reader can scroll through per window
SUMMARY_CHARS = 360
_KEPT_WINDOWS = 4
_KEPT_RANKINGS = 512
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Card:
    """One paper as a card: ``topics`` are its labels (`TopicTag`), best first;
    ``percentile`` is the share of candidates ranked below it (100: the best)."""

    id: str
    title: str
    authors: tuple[str, ...]
    date: dt.date | None
    summary: str
    abs_url: str | None
    pdf_url: str | None
    topics: tuple[TopicTag, ...]
    why: str
    score: float
    rank: int
    top_percent: int


@dataclass(frozen=True)
class FeedPage:
    """What the Today page shows: cards (after the topic filter) and where they came from."""

    user: str
    until: dt.date | None
    days: int
    candidates: int
    cards: tuple[Card, ...]
    topic: str | None
    facets: tuple[tuple[str, str, int], ...]  # (topic id, name, cards on it), most first
    note: str = ""


def card_for(ranked: RankedPaper, paper: Paper, window: Window, candidates: int) -> Card:
    top = max(1, math.ceil(100 * ranked.rank / max(candidates, 1)))
    return Card(
        id=paper.id,
        title=paper.title,
        authors=tuple(paper.authors),
        date=paper.date,
        summary=shorten(paper.abstract, SUMMARY_CHARS),
        abs_url=arxiv_url(paper.id),
        pdf_url=pdf_url(paper.id),
        topics=window.tags.get(paper.id, ()),
        why=why_line(ranked.reasons, window.topic_names),
        score=ranked.score,
        rank=ranked.rank,
        top_percent=min(top, 100),
    )


class Feed:
    """Readers' rankings, cached per (reader, window) and refreshed when their votes change.

    Thread-safe: model calls go through ``holder.using()``; the caches have their own lock,
    and one reader is ranked by one thread at a time (a Today that comes while a refresh
    runs waits for it instead of ranking the same papers again).
    """

    def __init__(self, holder: PredictorHolder):
        self.holder = holder
        self._windows: OrderedDict[tuple, Window] = OrderedDict()
        # (user, since, until, versions, papers) -> (feedback stamp, (ranked, candidates))
        self._rankings: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self._readers: dict[str, threading.Lock] = {}
        self._pending: set[str] = set()
        self._refresher: ThreadPoolExecutor | None = None

    @property
    def store(self):
        return self.holder.runtime.store

    def span(self, until: dt.date | None, days: int) -> tuple[dt.date, dt.date] | None:
        """(first, last) date of the window ending at ``until`` (default: the newest date
        in the store), or None when the store holds no dated papers."""
        if days not in WINDOWS:
            raise InputError(f"window must be one of {', '.join(map(str, WINDOWS))} days")
        end = until or self.store.papers.latest_date()
        if end is None:
            return None
        return end - dt.timedelta(days=days - 1), end

    def window(self, since: dt.date, until: dt.date) -> Window:
        """The window's papers prepared for ranking, with topic tags (cached)."""
        predictor = self.holder.predictor
        key = (since, until, tuple(sorted(predictor.versions.items())), self.store.papers.count())
        with self._lock:
            found = self._windows.get(key)
        if found is not None:
            return found
        with self.holder.using() as predictor:
            prepared = prepare_window(predictor, since, until)
        with self._lock:
            self._windows[key] = prepared
            while len(self._windows) > _KEPT_WINDOWS:
                self._windows.popitem(last=False)
        return prepared

    def ranking(self, user: str, window: Window) -> tuple[list[RankedPaper], int]:
        """The reader's best papers of ``window`` (dismissed ones left out) and how many
        candidates they were ranked among; recomputed when the reader's feedback changed."""
        key = self._key(user, window)
        with self._lock:
            reader = self._readers.setdefault(user, threading.Lock())
        with reader:
            stamp = self.store.activity.feedback_stamp(user)
            with self._lock:
                cached = self._rankings.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            result = self._rank(user, window)
            with self._lock:
                self._rankings[key] = (stamp, result)
                self._rankings.move_to_end(key)
                while len(self._rankings) > _KEPT_RANKINGS:
                    self._rankings.popitem(last=False)
            return result

    def ready(self, user: str, window: Window) -> bool:
        """Whether the reader's ranking of ``window`` is kept and current (a Today of it
        would rank nothing)."""
        stamp = self.store.activity.feedback_stamp(user)
        with self._lock:
            cached = self._rankings.get(self._key(user, window))
        return cached is not None and cached[0] == stamp

    def _key(self, user: str, window: Window) -> tuple:
        versions = tuple(sorted(self.holder.predictor.versions.items()))
        return (user, window.since, window.until, versions, len(window.papers))

    def _rank(self, user: str, window: Window) -> tuple[list[RankedPaper], int]:
        profile = user_profile(self.store, user)
        rated = set(profile.liked_ids) | set(profile.disliked) | set(profile.dismissed)
        candidates = sum(p.id not in rated for p in window.papers)
        ranked: list[RankedPaper] = []
        if window.prepared is not None and candidates:
            with self.holder.using() as predictor:
                ranked = predictor.rank_profile(
                    profile, window.prepared, k=min(len(window.papers), RANKED_PER_READER)
                )
            ranked = [r for r in ranked if r.id not in rated]
        return ranked, candidates

    def refresh_soon(self, user: str) -> None:
        """After the reader voted: rank again, in a background thread, each kept window they
        have a ranking for, so their next Today is ready. Returns at once."""
        with self._lock:
            if user in self._pending:  # queued and not started: it will see this vote too
                return
            self._pending.add(user)
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(1, thread_name_prefix="paperrec-feed")
        self._refresher.submit(self._refresh, user)

    def _refresh(self, user: str) -> None:
        versions = tuple(sorted(self.holder.predictor.versions.items()))
        with self._lock:
            self._pending.discard(user)
            seen = {(k[1], k[2]) for k in self._rankings if k[0] == user}
            windows = [  # of the models serving now
                w for k, w in self._windows.items() if k[2] == versions and k[:2] in seen
            ]
        for window in windows:
            try:
                self.ranking(user, window)
            except PaperrecError as exc:  # e.g. the reader was deleted meanwhile
                log.info("Today of %s not refreshed: %s", user, exc)
            except Exception:  # a background thread: say so, never lose it silently
                log.exception("Today of %s not refreshed", user)

    def page(
        self,
        user: str,
        *,
        until: dt.date | None = None,
        days: int = 1,
        topic: str | None = None,
        limit: int = 50,
    ) -> FeedPage:
        """The reader's Today page for a window, optionally only cards tagged ``topic``."""
        self.store.users.get(user)
        span = self.span(until, days)
        if span is None:
            note = "No dated papers are stored yet; an administrator runs paperrec ingest."
            return FeedPage(user, None, days, 0, (), topic, (), note)
        window = self.window(*span)
        try:
            ranked, candidates = self.ranking(user, window)
        except InputError as exc:  # no liked papers and no chosen topics yet
            return FeedPage(user, span[1], days, len(window.papers), (), topic, (), str(exc))
        cards = [card_for(r, window.by_id[r.id], window, candidates) for r in ranked]
        facets = _facets(cards)
        if topic:
            cards = [c for c in cards if any(t[0] == topic for t in c.topics)]
        note = "" if cards else _empty_note(window, candidates, topic)
        return FeedPage(user, span[1], days, candidates, tuple(cards[:limit]), topic, facets, note)


def _facets(cards: Sequence[Card]) -> tuple[tuple[str, str, int], ...]:
    counts: dict[tuple[str, str], int] = {}
    for card in cards:
        for tag in card.topics:
            counts[(tag.id, tag.name)] = counts.get((tag.id, tag.name), 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1]))
    return tuple((tid, name, n) for (tid, name), n in ordered)


def _empty_note(window: Window, candidates: int, topic: str | None) -> str:
    if not window.papers:
        return f"No papers were announced from {window.since} to {window.until}."
    if topic:
        return "None of your ranked papers in this window carry that topic."
    if not candidates:
        return "You have rated every paper of this window."
    return "Nothing to show for this window."
