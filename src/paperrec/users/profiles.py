"""Users as the recommender sees them: creation with seed papers, feedback, export, delete.

These are the library functions behind ``paperrec user ...`` and ``paperrec feedback``, and
the HTTP service's feedback endpoint. What ranking consumes, `UserProfile` and
`user_profile`, lives in `paperrec.users.ranking_profile`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from paperrec.errors import InputError, NetworkError, NotFoundError
from paperrec.papers.ingest import ingest_papers
from paperrec.papers.seeds import read_seeds
from paperrec.papers.sources import Problem
from paperrec.schema import (
    FEEDBACK_SIGNALS,
    FeedbackEvent,
    FeedbackSource,
    Paper,
    Signal,
    User,
    split_arxiv_id,
)
from paperrec.store import Store, UpsertCounts
from paperrec.users.ranking_profile import user_profile

EXPORT_VERSION = 1


def parse_signal(value: Signal | str) -> Signal:
    """``'up'`` -> ``Signal.UP``; raises InputError listing the allowed signals."""
    allowed = [s.value for s in FEEDBACK_SIGNALS]
    text = value.value if isinstance(value, Signal) else str(value).strip().lower()
    if text not in allowed:
        raise InputError(f"unknown signal {str(value)!r}; available: {', '.join(allowed)}")
    return Signal(text)


def parse_topics(
    topics: str | Iterable[str], known_topics: set[str] | None = None
) -> tuple[str, ...]:
    """Topic ids from ``'a,b'`` or a list, deduplicated in order, checked against ``known_topics``.

    ``known_topics=None`` skips the check (no taxonomy available to check against).
    """
    items = topics.split(",") if isinstance(topics, str) else topics
    chosen = tuple(dict.fromkeys(t.strip() for t in items if t and t.strip()))
    if known_topics is not None:
        unknown = [t for t in chosen if t not in known_topics]
        if unknown:
            listed = ", ".join(repr(t) for t in unknown)
            raise InputError(
                f"unknown topic{'s' if len(unknown) > 1 else ''} {listed}; "
                f"available: {', '.join(sorted(known_topics))}"
            )
    return chosen


def _key(raw: str) -> str:
    parsed = split_arxiv_id(raw)
    return parsed[0] if parsed else raw.strip()


@dataclass(frozen=True)
class AddedUser:
    """Outcome of `add_user`: the user, their seed paper ids, and what the seed files gave."""

    user: User
    seeds: tuple[str, ...]
    ingested: UpsertCounts
    problems: tuple[Problem, ...]


def add_user(
    store: Store,
    name: str,
    email: str,
    topics: str | Iterable[str] = (),
    seeds: Sequence[str | Path] = (),
    *,
    known_topics: set[str] | None = None,
    fetch: Callable[[list[str]], tuple[list[Paper], list[Problem]]] | None = None,
) -> AddedUser:
    """Create a user with chosen topics and seed papers they like.

    Everything is checked before anything is written: the name is free, topics are known,
    seed files are readable and every seed id is stored (or in a seed file). Papers from
    seed files are then ingested (source ``seed``), and the user row and its seed events are
    written in one transaction, so a failure never leaves a half-created user.

    Parameters
    ----------
    store
        The paper and user store.
    name, email
        Unique user name and their address.
    topics
        Topic ids, as ``'a,b'`` or a list; checked against ``known_topics`` when given.
    seeds
        Seed specs: paths to JSONL/CSV/Atom/HF-page/BibTeX files, or comma-separated ids.
    fetch
        Fetches papers by arXiv id and names the ids it cannot find
        (``paperrec.papers.sources.arxiv_api.fetch_ids``); seed ids the store does not hold
        are fetched with it when given.

    Raises
    ------
    InputError
        Name taken, bad email, unknown topic, unreadable or missing seed file.
    NotFoundError
        Seed ids the store does not hold (listed; ingest them first).
    """
    chosen = parse_topics(topics, known_topics)
    store.users.check_new(name, email)  # before any seed paper is ingested
    found = read_seeds(seeds)
    resolved = store.papers.resolve_ids(found.refs)
    in_files = {p.id for p in found.papers}
    unknown = [
        r for r in dict.fromkeys(found.refs) if r not in resolved and _key(r) not in in_files
    ]
    if unknown and fetch is not None and all(split_arxiv_id(r) for r in unknown):
        found.papers.extend(p.with_source("seed") for p in _fetch_seeds(fetch, unknown))
        unknown = []
    if unknown:
        raise NotFoundError(
            f"unknown seed paper{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            "they are not in the paper store and nothing is fetched from the network: "
            "ingest them first (paperrec ingest FILE) or pass a seed file with their "
            "titles and abstracts"
        )
    summary = ingest_papers(
        store.papers, found.papers, "seed", batch_size=store.settings.ingest_batch_size
    )
    # Resolve again: ids that named papers in the seed files exist only now.
    resolved = store.papers.resolve_ids(found.refs)
    seed_ids = tuple(dict.fromkeys([*summary.counts.ids, *(resolved[r] for r in found.refs)]))
    user = store.users.add(name, email, chosen, seed_ids)
    return AddedUser(user, seed_ids, summary.counts, tuple(found.problems))


def _fetch_seeds(
    fetch: Callable[[list[str]], tuple[list[Paper], list[Problem]]], ids: list[str]
) -> list[Paper]:
    """The papers ``fetch`` finds for seed ``ids``; a NotFoundError naming them when the
    network fails or an id is unknown (nothing is written either way)."""
    plural = "s" if len(ids) > 1 else ""
    try:
        papers, problems = fetch(ids)
    except NetworkError as exc:
        reason = str(exc)
    else:
        if not problems:
            return papers
        reason = "; ".join(p.message for p in problems)
    raise NotFoundError(
        f"unknown seed paper{plural}: {', '.join(ids)}; not in the paper store and not "
        f"fetched ({reason}); ingest them first (paperrec ingest FILE) or pass a seed file "
        "with their titles and abstracts"
    ) from None


def record_feedback(
    store: Store,
    user: str,
    paper_id: str,
    signal: Signal | str,
    source: FeedbackSource | str = FeedbackSource.CLI,
) -> FeedbackEvent:
    """Store one feedback event, with the current time and where it came from.

    ``paper_id`` may carry a version (``2401.01234v2``), be an abs URL or an old key of a
    paper that was re-keyed; the event is stored under the paper's current id.

    Raises
    ------
    InputError
        Unknown signal (allowed: up, down, saved, dismissed) or source.
    NotFoundError
        Unknown user (the known ones are listed) or a paper the store does not hold.
    """
    parsed = parse_signal(signal)
    resolved = store.papers.resolve_ids([paper_id])
    if paper_id not in resolved:
        store.users.get(user)  # an unknown user is named first (add_feedback checks it too)
        raise NotFoundError(
            f"unknown paper {paper_id!r}; it is not in the paper store (paperrec ingest FILE)"
        )
    return store.users.add_feedback(user, resolved[paper_id], parsed, source)


def export_user(store: Store, name: str) -> dict:
    """Everything stored about a user as JSON-ready data, plus the profile derived from it.

    Contains the profile fields, every feedback event (signal, source, time), shown papers
    and the ids and creation times of API keys (never the keys themselves).
    """
    data = store.users.export(name)
    profile = user_profile(store, name)
    return {
        "export_version": EXPORT_VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **data,
        "profile": {
            "liked": [{"paper_id": pid, "since": when.isoformat()} for pid, when in profile.liked],
            "disliked": list(profile.disliked),
            "dismissed": list(profile.dismissed),
        },
    }


def delete_user(store: Store, name: str) -> dict[str, int]:
    """Remove a user, their feedback, shown papers and API keys; returns rows removed.

    Papers ingested from the user's seed files stay: they are part of the shared corpus.
    """
    return store.users.delete(name)


def list_users(store: Store) -> list[dict]:
    """One summary per user, by name: email, topics, and counts of their stored rows."""
    counts = store.users.counts()
    return [
        {
            "name": u.name,
            "email": u.email,
            "topics": list(u.topics),
            "created_at": u.created_at.isoformat() if u.created_at else None,
            **counts.get(u.name, {}),
        }
        for u in store.users.all()
    ]
