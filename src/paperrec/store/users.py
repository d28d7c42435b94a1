"""Users, their feedback events, what they have been shown, and their API keys.

Feedback is an append-only log of (user, paper, signal, source, time); a user's liked and
disliked sets are derived from it, the latest signal per paper winning. API keys are
stored as SHA-256 hashes only; the plaintext is shown once, when the key is created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from paperrec.errors import InputError, NotFoundError, unknown_choice
from paperrec.schema import FeedbackEvent, FeedbackSource, Signal, User
from paperrec.store.db import api_keys, feedback, shown, users


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row_to_user(row) -> User:
    return User(
        id=row.id,
        name=row.name,
        email=row.email,
        topics=tuple(json.loads(row.topics)),
        created_at=dt.datetime.fromisoformat(row.created_at),
    )


class UserStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    # -- users ---------------------------------------------------------------------------
    def add(self, name: str, email: str, topics: Iterable[str] = ()) -> User:
        name = name.strip()
        if not name:
            raise InputError("user name must not be empty")
        if "@" not in email:
            raise InputError(f"email {email!r} is not an address")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        name=name, email=email, topics=json.dumps(list(topics)), created_at=_now().isoformat()
                    )
                )
        except IntegrityError:
            raise InputError(f"user {name!r} already exists") from None
        return self.get(name)

    def get(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFoundError(unknown_choice("user", name, self.names()) if self.names() else f"unknown user {name!r}; no users yet (paperrec user add)")
        return _row_to_user(row)

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return [name for (name,) in conn.execute(select(users.c.name).order_by(users.c.name))]

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_row_to_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def set_topics(self, name: str, topics: Iterable[str]) -> None:
        user = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(topics=json.dumps(list(topics))))

    def delete(self, name: str) -> None:
        """Remove the user and everything stored about them."""
        user = self.get(name)
        with self.engine.begin() as conn:
            for table in (feedback, shown, api_keys):
                conn.execute(delete(table).where(table.c.user_id == user.id))
            conn.execute(delete(users).where(users.c.id == user.id))

    def export(self, name: str) -> dict:
        """Everything stored about a user, as JSON-ready data (keys are listed, not revealed)."""
        user = self.get(name)
        with self.engine.connect() as conn:
            shown_rows = conn.execute(select(shown).where(shown.c.user_id == user.id)).all()
            key_rows = conn.execute(select(api_keys.c.id, api_keys.c.created_at).where(api_keys.c.user_id == user.id)).all()
        return {
            "name": user.name,
            "email": user.email,
            "topics": list(user.topics),
            "created_at": user.created_at.isoformat(),
            "feedback": [
                {"paper_id": e.paper_id, "signal": str(e.signal), "source": str(e.source), "created_at": e.created_at.isoformat()}
                for e in self.feedback(name)
            ],
            "shown": [{"paper_id": r.paper_id, "shown_at": r.shown_at} for r in shown_rows],
            "api_keys": [{"id": r.id, "created_at": r.created_at} for r in key_rows],
        }

    # -- feedback ------------------------------------------------------------------------
    def add_feedback(self, name: str, paper_id: str, signal: Signal | str, source: FeedbackSource | str) -> FeedbackEvent:
        user = self.get(name)
        try:
            signal = Signal(signal)
        except ValueError:
            raise InputError(unknown_choice("signal", signal, [s.value for s in Signal])) from None
        source = FeedbackSource(source)
        when = _now()
        with self.engine.begin() as conn:
            conn.execute(
                feedback.insert().values(
                    user_id=user.id, paper_id=paper_id, signal=signal.value, source=source.value, created_at=when.isoformat()
                )
            )
        return FeedbackEvent(user.name, paper_id, signal, source, when)

    def feedback(self, name: str) -> list[FeedbackEvent]:
        user = self.get(name)
        with self.engine.connect() as conn:
            rows = conn.execute(select(feedback).where(feedback.c.user_id == user.id).order_by(feedback.c.id)).all()
        return [
            FeedbackEvent(user.name, r.paper_id, Signal(r.signal), FeedbackSource(r.source), dt.datetime.fromisoformat(r.created_at))
            for r in rows
        ]

    def preferences(self, name: str) -> tuple[list[tuple[str, dt.datetime]], list[str]]:
        """(liked papers with the time they were liked, disliked paper ids); latest signal wins."""
        latest: dict[str, FeedbackEvent] = {}
        for event in self.feedback(name):
            latest[event.paper_id] = event
        liked = [(e.paper_id, e.created_at) for e in latest.values() if e.signal.is_positive]
        disliked = [e.paper_id for e in latest.values() if e.signal.is_negative]
        return liked, disliked

    def dismissed(self, name: str) -> set[str]:
        latest: dict[str, FeedbackEvent] = {}
        for event in self.feedback(name):
            latest[event.paper_id] = event
        return {pid for pid, e in latest.items() if e.signal is Signal.DISMISSED}

    # -- shown papers --------------------------------------------------------------------
    def mark_shown(self, name: str, paper_ids: Iterable[str]) -> None:
        user = self.get(name)
        already = self.shown_ids(name)
        rows = [
            {"user_id": user.id, "paper_id": pid, "shown_at": _now().isoformat()}
            for pid in dict.fromkeys(paper_ids)
            if pid not in already
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(shown.insert(), rows)

    def shown_ids(self, name: str) -> set[str]:
        user = self.get(name)
        with self.engine.connect() as conn:
            return {pid for (pid,) in conn.execute(select(shown.c.paper_id).where(shown.c.user_id == user.id))}

    # -- API keys ------------------------------------------------------------------------
    def create_key(self, name: str | None) -> str:
        """A new API key for user ``name`` (None: an admin key). Returns the plaintext once."""
        user_id = self.get(name).id if name is not None else None
        key = "prk_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(user_id=user_id, key_hash=hash_key(key), created_at=_now().isoformat()))
        return key

    def key_owner(self, key: str) -> tuple[bool, str | None] | None:
        """For a valid key: (is_admin, user name or None). None for an unknown key."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.user_id, users.c.name)
                .select_from(api_keys.outerjoin(users, users.c.id == api_keys.c.user_id))
                .where(api_keys.c.key_hash == hash_key(key))
            ).first()
        if row is None:
            return None
        return (row.user_id is None, row.name)
