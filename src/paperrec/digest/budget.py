"""Each user's digest budget: how many papers, how good, how often, how many per topic.

Pure: no store, no model. `DigestSettings` is what a user chose (stored by
`paperrec.store.UserStore.digest_settings`); `window` says which announcement dates a
digest covers, `is_due` whether a user gets one on a date at all, and `apply_budget` cuts a
ranked list down to what fits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from paperrec.errors import InputError, unknown_choice

Cadence = Literal["daily", "weekly"]
CADENCES: tuple[str, ...] = ("daily", "weekly")
CADENCE_DAYS = {"daily": 1, "weekly": 7}
ANY_TOPIC = "*"
MAX_K = 100  # a digest is read, not searched; more than this is a bad setting, not a wish


@dataclass(frozen=True)
class DigestSettings:
    """One user's digest preferences; the defaults are what a new user gets.

    Attributes
    ----------
    k
        At most this many papers per digest.
    min_score
        Leave out papers the ranker scores below this (None: no minimum). Ranker scores
        are relative (higher is better, no fixed scale); look at ``paperrec recommend`` for a
        user's usual range before setting one.
    cadence
        ``daily``, or ``weekly``: one digest when 7 days have passed since the last one.
    topic_quota
        At most n papers whose main topic is a given topic id; the key ``*`` applies to
        every topic not named. Empty: no quota.
    empty_notice
        On a day with nothing new, send a short "nothing new today" email (True) or nothing.
    trending
        Add a section with the papers most liked across users in the last week.
    """

    k: int = 10
    min_score: float | None = None
    cadence: Cadence = "daily"
    topic_quota: Mapping[str, int] = field(default_factory=dict)
    empty_notice: bool = False
    trending: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise InputError(f"k must be a whole number from 1 to {MAX_K}, got {self.k!r}")
        if self.cadence not in CADENCES:
            raise InputError(unknown_choice("cadence", self.cadence, CADENCES))
        if self.min_score is not None and self.min_score != self.min_score:  # NaN
            raise InputError("min score must be a number, got NaN")
        for topic, n in self.topic_quota.items():
            if not isinstance(n, int) or n < 1:
                raise InputError(f"topic quota for {topic!r} must be at least 1, got {n!r}")
        object.__setattr__(self, "topic_quota", dict(self.topic_quota))

    def as_dict(self) -> dict:
        return {
            "k": self.k,
            "min_score": self.min_score,
            "cadence": self.cadence,
            "topic_quota": dict(self.topic_quota),
            "empty_notice": self.empty_notice,
            "trending": self.trending,
        }


def parse_quota(text: str, known_topics: Iterable[str] | None = None) -> dict[str, int]:
    """``'3'`` (at most 3 per topic) or ``'llm=2,robotics=4,*=3'`` -> ``{topic: n}``.

    An empty string means no quota. Topic ids are checked against ``known_topics`` when
    given; every problem is an InputError naming the part that is wrong.
    """
    text = text.strip()
    if not text:
        return {}
    if text.isdigit():
        return _checked({ANY_TOPIC: int(text)}, known_topics)
    quota: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        topic, eq, number = part.partition("=")
        topic, number = topic.strip(), number.strip()
        if not eq or not topic or not number.isdigit():
            raise InputError(
                f"topic quota part {part!r} is not TOPIC=N; write e.g. '3' (3 per topic) "
                "or 'llm=2,*=3'"
            )
        if topic in quota:
            raise InputError(f"topic quota names {topic!r} twice")
        quota[topic] = int(number)
    return _checked(quota, known_topics)


def _checked(quota: dict[str, int], known_topics: Iterable[str] | None) -> dict[str, int]:
    for topic, n in quota.items():
        if n < 1:
            raise InputError(f"topic quota for {topic!r} must be at least 1, got {n}")
    if known_topics is not None:
        known = set(known_topics)
        unknown = [t for t in quota if t != ANY_TOPIC and t not in known]
        if unknown:
            raise InputError(unknown_choice("topic in the quota", unknown[0], known))
    return quota


def format_quota(quota: Mapping[str, int]) -> str:
    """The inverse of `parse_quota`: ``'llm=2,*=3'``, ``'3'``, or ``''`` for none."""
    if set(quota) == {ANY_TOPIC}:
        return str(quota[ANY_TOPIC])
    return ",".join(f"{t}={n}" for t, n in quota.items())


def describe(settings: DigestSettings) -> str:
    """The budget in a few words, for the digest's header: 'daily, up to 10 papers'."""
    parts = [f"{settings.cadence}, up to {settings.k} paper{'s' if settings.k != 1 else ''}"]
    if settings.min_score is not None:
        parts.append(f"score at least {settings.min_score:g}")
    if settings.topic_quota:
        quota = settings.topic_quota
        parts.append(
            f"at most {quota[ANY_TOPIC]} per topic"
            if set(quota) == {ANY_TOPIC}
            else "topic quota " + format_quota(quota)
        )
    return ", ".join(parts)


def is_due(cadence: str, date: dt.date, last: dt.date | None) -> bool:
    """Whether a user on ``cadence`` gets a digest on ``date``, their last one being ``last``."""
    return last is None or (date - last).days >= CADENCE_DAYS[cadence]


def apply_budget(
    ranked: Sequence,
    main_topics: Mapping[str, str | None],
    settings: DigestSettings,
) -> list:
    """The papers of ``ranked`` (best first; items with ``id`` and ``score``) that fit.

    Goes down the list keeping a paper when its score reaches ``min_score`` and its main
    topic (``main_topics[id]``; None: no topic, never limited) is under its quota, until
    ``k`` are kept. Order is kept.
    """
    kept: list = []
    per_topic: dict[str, int] = {}
    quota = settings.topic_quota
    for item in ranked:
        if len(kept) == settings.k:
            break
        if settings.min_score is not None and item.score < settings.min_score:
            continue
        topic = main_topics.get(item.id)
        limit = quota.get(topic, quota.get(ANY_TOPIC)) if topic is not None else None
        if limit is not None and per_topic.get(topic, 0) >= limit:
            continue
        if topic is not None:
            per_topic[topic] = per_topic.get(topic, 0) + 1
        kept.append(item)
    return kept
