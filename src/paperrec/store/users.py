"""Users, their digest settings, their feedback events and what they have been shown
(their API keys are `paperrec.store.keys`).

Feedback is an append-only log of (user, paper, signal, source, time); a user's liked and
disliked sets are derived from it, the latest signal per paper winning.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from paperrec.digest.budget import DigestSettings
from paperrec.errors import InputError, NotFoundError, unknown_choice
from paperrec.schema import FeedbackEvent, FeedbackSource, Signal, User, check_user_name
from paperrec.store.db import (
    api_keys,
    digest_settings,
    feedback,
    new_uid,
    outbox,
    paper_aliases,
    shown,
    signin_links,
    users,
)
from paperrec.store.engines import insert_missing, upsert
from paperrec.store.group_commit import GroupCommit


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def latest_signals(events: Iterable[FeedbackEvent]) -> dict[str, FeedbackEvent]:
    """The last event per paper id, in the order papers were first rated.

    Events must come oldest first (as `UserStore.feedback` returns them); a later vote on a
    paper replaces an earlier one, so "up" then "down" leaves the paper disliked.
    """
    latest: dict[str, FeedbackEvent] = {}
    for event in events:
        latest[event.paper_id] = event
    return latest


def _row_to_user(row) -> User:
    return User(
        id=row.id,
        name=row.name,
        email=row.email,
        topics=tuple(json.loads(row.topics)),
        created_at=dt.datetime.fromisoformat(row.created_at),
        uid=row.uid or "",
        token_generation=row.token_generation or 0,
    )


@dataclass(frozen=True)
class ProfileStamp:
    """What a user's profile is derived from, as of one read (`UserStore.profile_stamp`).

    Feedback and shown rows are only ever added (a user's rows go only with the user, whose
    re-creation gets a new ``uid``), so equal stamps mean an equal profile and a higher
    ``last_event`` means votes were added after it. ``aliases`` counts the store's re-keyed
    papers: a re-key changes the ids a profile holds.
    """

    user: User
    last_event: int  # row id of the user's newest feedback event; 0 without any
    shown: int  # papers the user has been shown
    aliases: int


class UnknownUserError(NotFoundError):
    """A user name the store does not hold. ``public_message`` names nobody else (for
    HTTP answers); the message itself lists the stored names (for the operator's CLI)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.public_message = f"unknown user {name!r}"


class UserStore:
    """Reads and writes the users, digest_settings, feedback and shown tables."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._votes = GroupCommit(engine, feedback)  # votes arriving together commit together

    # -- users ---------------------------------------------------------------------------
    def add(
        self,
        name: str,
        email: str,
        topics: Iterable[str] = (),
        seeds: Sequence[str] = (),
    ) -> User:
        """Create a user and their seed papers (liked from the start) in one transaction.

        Parameters
        ----------
        name, email
            The user's unique name and address.
        topics
            Chosen topic ids, already validated by the caller.
        seeds
            Paper ids, already resolved to stored rows; each becomes a ``seed`` event.
        """
        name, email = self.check_new(name, email)
        when = _now().isoformat()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    users.insert().values(
                        name=name,
                        email=email,
                        topics=json.dumps(list(topics)),
                        created_at=when,
                        uid=new_uid(),
                        token_generation=0,
                    )  # fmt: skip
                )
                user_id = result.inserted_primary_key[0]
                rows = [
                    {
                        "user_id": user_id,
                        "paper_id": pid,
                        "signal": Signal.SEED.value,
                        "source": FeedbackSource.SEED.value,
                        "created_at": when,
                    }
                    for pid in dict.fromkeys(seeds)
                ]
                if rows:
                    conn.execute(feedback.insert(), rows)
        except IntegrityError:
            raise InputError(f"user {name!r} already exists") from None
        return self.get(name)

    def check_new(self, name: str, email: str) -> tuple[str, str]:
        """Stripped (name, email) for a new user; raises InputError if either is unusable."""
        name, email = name.strip(), email.strip()
        try:
            check_user_name(name)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        local, at, domain = email.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in email):
            raise InputError(f"email {email!r} is not an address (expected name@host)")
        if self.exists(name):
            raise InputError(f"user {name!r} already exists")
        return name, email

    def get(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise UnknownUserError(name, self._unknown_user_message(name))
        return _row_to_user(row)

    def by_uid(self, uid: str) -> User | None:
        """The user with this immutable id, or None (deleted, or never existed)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.uid == uid)).first()
        return _row_to_user(row) if row is not None else None

    def _unknown_user_message(self, name: str) -> str:
        known = self.names()
        if not known:
            return f"unknown user {name!r}; no users yet (paperrec user add)"
        return unknown_choice("user", name, known)

    def exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(users.c.name).order_by(users.c.name)).scalars())

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_row_to_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def set_email(self, name: str, email: str) -> None:
        """Change the user's address; InputError when it is not one."""
        email = email.strip()
        local, at, domain = email.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in email):
            raise InputError(f"email {email!r} is not an address (expected name@host)")
        user = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(email=email))

    def set_topics(self, name: str, topics: Iterable[str]) -> None:
        user = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(
                users.update().where(users.c.id == user.id).values(topics=json.dumps(list(topics)))
            )

    def delete(self, name: str) -> dict[str, int]:
        """Remove the user and everything stored about them (digest settings and outbox
        too); returns rows removed from feedback, shown and api_keys."""
        user = self.get(name)
        removed: dict[str, int] = {}
        with self.engine.begin() as conn:
            # Explicit deletes rather than relying on ON DELETE CASCADE, which SQLite only
            # honours when foreign keys are switched on for the connection.
            for table in (feedback, shown, api_keys):
                removed[table.name] = conn.execute(
                    delete(table).where(table.c.user_id == user.id)
                ).rowcount
            for table in (digest_settings, outbox, signin_links):
                conn.execute(delete(table).where(table.c.user_id == user.id))
            conn.execute(delete(users).where(users.c.id == user.id))
        return removed

    def export(self, name: str) -> dict:
        """Everything stored about a user, as JSON-ready data (keys are listed, not revealed)."""
        user = self.get(name)
        with self.engine.connect() as conn:
            shown_rows = conn.execute(
                select(shown).where(shown.c.user_id == user.id).order_by(shown.c.shown_at)
            ).all()
            key_rows = conn.execute(
                select(api_keys.c.id, api_keys.c.created_at).where(api_keys.c.user_id == user.id)
            ).all()
            digest_rows = conn.execute(
                select(outbox).where(outbox.c.user_id == user.id).order_by(outbox.c.date)
            ).all()
        return {
            "name": user.name,
            "email": user.email,
            "topics": list(user.topics),
            "created_at": user.created_at.isoformat(),
            "feedback": [
                {
                    "paper_id": e.paper_id,
                    "signal": e.signal.value,
                    "source": e.source.value,
                    "created_at": e.created_at.isoformat(),
                }
                for e in self.feedback(name)
            ],
            "shown": [{"paper_id": r.paper_id, "shown_at": r.shown_at} for r in shown_rows],
            "api_keys": [{"id": r.id, "created_at": r.created_at} for r in key_rows],
            "digest_settings": self.digest_settings(name).as_dict(),
            "digests": [
                {
                    "date": r.date, "kind": r.kind, "status": r.status, "email": r.email,
                    "paper_ids": json.loads(r.paper_ids), "attempts": r.attempts,
                    "created_at": r.created_at, "sent_at": r.sent_at,
                }
                for r in digest_rows
            ],
        }  # fmt: skip

    def counts(self) -> dict[str, dict[str, int]]:
        """Per user name: rows in the feedback, shown and api_keys tables."""
        tables = (feedback, shown, api_keys)
        result = {name: dict.fromkeys((t.name for t in tables), 0) for name in self.names()}
        with self.engine.connect() as conn:
            for table in tables:
                query = (
                    select(users.c.name, func.count())
                    .select_from(table.join(users, users.c.id == table.c.user_id))
                    .group_by(users.c.name)
                )
                for name, n in conn.execute(query):
                    result[name][table.name] = n
        return result

    # -- digest settings -----------------------------------------------------------------
    def digest_settings(self, name: str) -> DigestSettings:
        """The user's digest budget; the defaults until one is set."""
        self.get(name)  # unknown users fail here, listing the known ones
        return self.digest_settings_many([name])[name]

    def digest_settings_many(self, names: Sequence[str]) -> dict[str, DigestSettings]:
        """Digest budgets by user name, in one query; defaults for users without one."""
        query = (
            select(users.c.name, digest_settings)
            .select_from(digest_settings.join(users, users.c.id == digest_settings.c.user_id))
            .where(users.c.name.in_(list(names)))
        )
        found = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.name] = DigestSettings(
                    k=row.k, min_score=row.min_score, cadence=row.cadence,
                    topic_quota=json.loads(row.topic_quota),
                    empty_notice=bool(row.empty_notice), trending=bool(row.trending),
                )  # fmt: skip
        return {name: found.get(name, DigestSettings()) for name in names}

    def set_digest_settings(self, name: str, settings: DigestSettings) -> None:
        """Replace the user's digest budget (validated by `DigestSettings` itself)."""
        user = self.get(name)
        values = settings.as_dict()
        values["topic_quota"] = json.dumps(values["topic_quota"])
        values["updated_at"] = _now().isoformat()
        with self.engine.begin() as conn:
            upsert(conn, digest_settings, {"user_id": user.id, **values}, key=["user_id"])

    # -- feedback ------------------------------------------------------------------------
    def add_feedback(
        self, name: str, paper_id: str, signal: Signal | str, source: FeedbackSource | str
    ) -> FeedbackEvent:
        """Append one event; ``paper_id`` must already be a stored paper's row id."""
        user = self.get(name)
        try:
            signal = Signal(signal)
        except ValueError:
            raise InputError(unknown_choice("signal", signal, [s.value for s in Signal])) from None
        try:
            source = FeedbackSource(source)
        except ValueError:
            allowed = [s.value for s in FeedbackSource]
            raise InputError(unknown_choice("feedback source", source, allowed)) from None
        when = _now()
        self._votes.insert(
            {
                "user_id": user.id,
                "paper_id": paper_id,
                "signal": signal.value,
                "source": source.value,
                "created_at": when.isoformat(),
            }
        )
        return FeedbackEvent(user.name, paper_id, signal, source, when)

    def feedback(self, name: str) -> list[FeedbackEvent]:
        """The user's events, oldest first."""
        return self.events_after(self.get(name), 0)[1]

    def events_after(self, user: User, after: int) -> tuple[int, list[FeedbackEvent]]:
        """The user's events stored after feedback row ``after`` (0: all), oldest first, in
        one query; with the row id of the newest one (``after`` when there is none)."""
        query = (
            select(feedback)
            .where(feedback.c.user_id == user.id, feedback.c.id > after)
            .order_by(feedback.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        events = [
            FeedbackEvent(
                user.name,
                r.paper_id,
                Signal(r.signal),
                FeedbackSource(r.source),
                dt.datetime.fromisoformat(r.created_at),
            )
            for r in rows
        ]
        return (rows[-1].id if rows else after), events

    def profile_stamp(self, name: str) -> ProfileStamp:
        """The user with the newest feedback row id, the shown count and the store's alias
        count, in one query (a cheap check that a kept profile is still current)."""
        of_user = lambda table: table.c.user_id == users.c.id  # noqa: E731
        last = select(func.coalesce(func.max(feedback.c.id), 0)).where(of_user(feedback))
        seen = select(func.count()).select_from(shown).where(of_user(shown))
        aliases = select(func.count()).select_from(paper_aliases)
        query = select(
            users,
            last.scalar_subquery().label("last_event"),
            seen.scalar_subquery().label("shown_count"),
            aliases.scalar_subquery().label("alias_count"),
        ).where(users.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownUserError(name, self._unknown_user_message(name))
        return ProfileStamp(_row_to_user(row), row.last_event, row.shown_count, row.alias_count)

    # -- shown papers --------------------------------------------------------------------
    def mark_shown(self, name: str, paper_ids: Iterable[str]) -> None:
        user = self.get(name)
        when = _now().isoformat()
        rows = [
            {"user_id": user.id, "paper_id": pid, "shown_at": when}
            for pid in dict.fromkeys(paper_ids)
        ]
        with self.engine.begin() as conn:
            insert_missing(conn, shown, rows)  # a paper shown before keeps its first time

    def shown_ids(self, name: str | User) -> set[str]:
        """Papers shown to the user (by name, or the `User` read already)."""
        user = name if isinstance(name, User) else self.get(name)
        with self.engine.connect() as conn:
            return _shown(conn, user.id)

    def most_liked(self, since: dt.datetime, limit: int) -> list[tuple[str, int]]:
        """(paper id, number of users) for the papers most users voted up or saved since
        ``since``, most liked first (ties by paper id); seeds do not count."""
        positive = [Signal.UP.value, Signal.SAVED.value]
        n_users = func.count(feedback.c.user_id.distinct())
        query = (
            select(feedback.c.paper_id, n_users)
            .where(feedback.c.signal.in_(positive), feedback.c.created_at >= since.isoformat())
            .group_by(feedback.c.paper_id)
            .order_by(n_users.desc(), feedback.c.paper_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(pid, int(n)) for pid, n in conn.execute(query)]


def _shown(conn: Connection, user_id: int) -> set[str]:
    return set(conn.execute(select(shown.c.paper_id).where(shown.c.user_id == user_id)).scalars())
