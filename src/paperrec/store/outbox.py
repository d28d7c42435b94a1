"""The digest outbox: every digest is recorded here, rendered, before it is sent.

At most one entry per user and date (a unique constraint, so two runs racing cannot both
record one). An entry moves pending -> sending -> sent; a failed attempt puts it back to
pending with a later ``next_attempt_at``. ``sending`` is taken with a compare-and-set, so
only one run sends an entry (on PostgreSQL the row is also locked ``FOR UPDATE SKIP
LOCKED``, so runs in other processes never wait on it). Just before the message itself
goes to the SMTP server the entry is stamped ``handed_over_at``: a run that dies after
that point leaves an entry whose delivery nobody knows, which is set to ``unconfirmed``
and never resent on its own (a duplicate is worse than asking the administrator); one that
dies earlier is retried.
Marking an entry sent also marks its papers shown, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from paperrec.store.db import outbox, shown, users
from paperrec.store.engines import insert_missing, skip_locked

KINDS = ("digest", "notice", "empty")
STATUSES = ("pending", "sending", "sent", "unconfirmed", "skipped")


RUN_ID = f"{socket.gethostname()}:{os.getpid()}"


def _run_is_gone(claimed_by: str | None, claimed_at: str | None, stale_before: str) -> bool:
    """Whether the run that claimed an entry has stopped (see `Outbox.recover`)."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return True  # an earlier run in this process: recover runs before this one claims
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive: another account's process
    return (claimed_at or "") < stale_before  # alive but hung, or on another host


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(when: dt.datetime) -> str:
    """Fixed-width UTC ISO time, so stamps compare correctly as strings."""
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class OutboxEntry:
    """One recorded digest: what was rendered for whom, and where its delivery stands."""

    id: int
    user: str
    date: dt.date
    kind: str
    status: str
    email: str
    subject: str
    html: str
    text: str
    paper_ids: tuple[str, ...]
    message_id: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    sent_at: str | None


def attention(entry: OutboxEntry) -> str:
    """How an undelivered entry is reported: ``unconfirmed`` (an operator must check),
    ``failed`` (attempts failed; retried by the next run), ``pending`` (not tried yet, or
    being sent)."""
    if entry.status == "unconfirmed":
        return "unconfirmed"
    return "failed" if entry.attempts > 0 and entry.last_error else "pending"


@dataclass(frozen=True)
class NewEntry:
    """What `Outbox.record` stores: a rendered digest for ``user`` on ``date``."""

    user: str
    date: dt.date
    kind: str
    email: str
    subject: str
    html: str
    text: str
    paper_ids: Sequence[str]
    message_id: str


def _entry(row) -> OutboxEntry:
    return OutboxEntry(
        id=row.id, user=row.name, date=dt.date.fromisoformat(row.date), kind=row.kind,
        status=row.status, email=row.email, subject=row.subject, html=row.html, text=row.text,
        paper_ids=tuple(json.loads(row.paper_ids)), message_id=row.message_id,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        sent_at=row.sent_at,
    )  # fmt: skip


_JOINED = select(outbox, users.c.name).select_from(
    outbox.join(users, users.c.id == outbox.c.user_id)
)


class Outbox:
    """Reads and writes the outbox table (and ``shown`` when an entry is sent)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def _user_ids(self, conn, names: Iterable[str]) -> dict[str, int]:
        rows = conn.execute(select(users.c.name, users.c.id).where(users.c.name.in_(list(names))))
        return dict(rows.all())

    def record(self, entry: NewEntry) -> tuple[OutboxEntry, bool]:
        """Store ``entry`` unless the user already has one for that date.

        Returns (the stored entry, True) or (the one already there, False); an existing
        entry is never replaced. ``empty`` entries are stored as ``skipped``.
        """
        if entry.kind not in KINDS:
            raise ValueError(f"unknown outbox kind {entry.kind!r}; available: {', '.join(KINDS)}")
        now = _stamp(_now())
        try:
            with self.engine.begin() as conn:
                user_id = self._user_ids(conn, [entry.user])[entry.user]
                conn.execute(
                    outbox.insert().values(
                        user_id=user_id,
                        date=entry.date.isoformat(),
                        kind=entry.kind,
                        status="skipped" if entry.kind == "empty" else "pending",
                        email=entry.email,
                        subject=entry.subject,
                        html=entry.html,
                        text=entry.text,
                        paper_ids=json.dumps(list(entry.paper_ids)),
                        message_id=entry.message_id,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )  # fmt: skip
                )
            created = True
        except IntegrityError:
            created = False
        stored = self.get(entry.user, entry.date)
        assert stored is not None  # just written, or there before
        return stored, created

    def get(self, user: str, date: dt.date) -> OutboxEntry | None:
        query = _JOINED.where(users.c.name == user, outbox.c.date == date.isoformat())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _entry(row) if row is not None else None

    def entries(
        self,
        *,
        names: Sequence[str] | None = None,
        status: str | None = None,
        date: dt.date | None = None,
    ) -> list[OutboxEntry]:
        """Entries by date then user, optionally only some users', one status or one date."""
        query = _JOINED.order_by(outbox.c.date, users.c.name)
        if date is not None:
            query = query.where(outbox.c.date == date.isoformat())
        if names is not None:
            query = query.where(users.c.name.in_(list(names)))
        if status is not None:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def last_dates(self, names: Sequence[str], before: dt.date) -> dict[str, dt.date]:
        """Per user, the date of their newest entry before ``before`` (users without one
        are left out): when their last digest was made, sent yet or not."""
        query = (
            select(users.c.name, func.max(outbox.c.date))
            .select_from(outbox.join(users, users.c.id == outbox.c.user_id))
            .where(users.c.name.in_(list(names)), outbox.c.date < before.isoformat())
            .group_by(users.c.name)
        )
        with self.engine.connect() as conn:
            return {name: dt.date.fromisoformat(d) for name, d in conn.execute(query)}

    def held_ids(self, names: Sequence[str], since: dt.date) -> dict[str, set[str]]:
        """Per user, the paper ids in their entries dated ``since`` or later, sent or not:
        papers a new digest must not repeat."""
        query = (
            select(users.c.name, outbox.c.paper_ids)
            .select_from(outbox.join(users, users.c.id == outbox.c.user_id))
            .where(users.c.name.in_(list(names)), outbox.c.date >= since.isoformat())
        )
        held: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for name, ids in conn.execute(query):
                held.setdefault(name, set()).update(json.loads(ids))
        return held

    # -- delivery ------------------------------------------------------------------------
    def due(
        self, names: Sequence[str] | None = None, now: dt.datetime | None = None
    ) -> list[OutboxEntry]:
        """Pending entries whose next attempt is due, oldest date first."""
        query = _JOINED.where(
            outbox.c.status == "pending", outbox.c.next_attempt_at <= _stamp(now or _now())
        ).order_by(outbox.c.date, users.c.name)
        if names is not None:
            query = query.where(users.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def claim(self, entry_id: int) -> bool:
        """pending -> sending, for this run only; False if another run has it or it is done.

        Safe across processes and hosts: the row is locked first, skipping it when another
        run holds it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writers take
        turns), and the update itself only moves an entry that is still pending.
        """
        with self.engine.begin() as conn:
            pending = (outbox.c.id == entry_id, outbox.c.status == "pending")
            if conn.execute(skip_locked(select(outbox.c.id).where(*pending))).first() is None:
                return False
            moved = conn.execute(
                update(outbox)
                .where(*pending)
                .values(status="sending", claimed_at=_stamp(_now()), claimed_by=RUN_ID)
            )
        return moved.rowcount == 1

    def handing_over(self, entry_id: int) -> None:
        """Stamp the moment the message itself goes to the server (see the module doc)."""
        self._move(entry_id, "sending", handed_over_at=_stamp(_now()))

    def release(self, entry_id: int, error: str, retry_at: dt.datetime) -> None:
        """sending -> pending after a failed attempt; the next one from ``retry_at`` on."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == entry_id, outbox.c.status == "sending")
                .values(
                    status="pending",
                    attempts=outbox.c.attempts + 1,
                    last_error=error,
                    next_attempt_at=_stamp(retry_at),
                    claimed_at=None,
                    handed_over_at=None,
                )  # fmt: skip
            )

    def mark_sent(self, entry: OutboxEntry, note: str | None = None) -> None:
        """sending -> sent, and the entry's papers shown to its user, in one transaction."""
        now = _stamp(_now())
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == entry.id)
                .values(status="sent", attempts=outbox.c.attempts + 1, sent_at=now, last_error=note)
            )
            user_id = conn.execute(
                select(outbox.c.user_id).where(outbox.c.id == entry.id)
            ).scalar_one()
            rows = [
                {"user_id": user_id, "paper_id": pid, "shown_at": now}
                for pid in dict.fromkeys(entry.paper_ids)
            ]
            insert_missing(conn, shown, rows)  # a paper shown before keeps its first time

    def recover(self, stale_before: dt.datetime) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
        """Entries left ``sending`` by a run that died; call it before a run claims any.

        A run on this host is dead when its process is gone; a run elsewhere (a shared
        database) counts as dead once it claimed the entry before ``stale_before``. Entries
        never handed over go back to pending (they are retried); entries handed over become
        ``unconfirmed``. Returns (retried, unconfirmed).
        """
        with self.engine.begin() as conn:
            rows = [
                r
                for r in conn.execute(_JOINED.where(outbox.c.status == "sending")).all()
                if _run_is_gone(r.claimed_by, r.claimed_at, _stamp(stale_before))
            ]
            retried = [r.id for r in rows if r.handed_over_at is None]
            lost = [r.id for r in rows if r.handed_over_at is not None]
            if retried:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(retried))
                    .values(
                        status="pending",
                        claimed_at=None,
                        claimed_by=None,
                        attempts=outbox.c.attempts + 1,
                        last_error="the run sending it stopped before handing it over",
                    )  # fmt: skip
                )
            if lost:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(lost))
                    .values(
                        status="unconfirmed",
                        last_error="the run sending it stopped after handing it to the SMTP "
                        "server, before its answer: it may or may not have arrived",
                    )  # fmt: skip
                )
        entries = {r.id: _entry(r) for r in rows}
        return [entries[i] for i in retried], [entries[i] for i in lost]

    def outstanding(self, names: Sequence[str] | None = None) -> list[OutboxEntry]:
        """Entries not delivered yet, any date: pending, sending and unconfirmed, oldest
        first. See `attention` for how each is reported."""
        query = _JOINED.where(outbox.c.status.in_(["pending", "sending", "unconfirmed"]))
        if names is not None:
            query = query.where(users.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(outbox.c.date, users.c.name)).all()
        return [_entry(r) for r in rows]

    def confirm(self, user: str, date: dt.date) -> OutboxEntry | None:
        """unconfirmed -> sent, when the operator has checked that the message arrived (its
        papers are marked shown); None when there is no unconfirmed entry for that date."""
        entry = self.get(user, date)
        if entry is None or entry.status != "unconfirmed":
            return None
        if not self._move(entry.id, "unconfirmed", status="sending"):
            return None  # another run took it meanwhile
        self.mark_sent(entry, note="confirmed by the operator")
        return self.get(user, date)

    def requeue(self, user: str, date: dt.date) -> OutboxEntry | None:
        """Make a recorded entry (sent, unconfirmed or pending) pending and due now, to be
        sent again on purpose; None when there is no such entry or nothing to send."""
        entry = self.get(user, date)
        if entry is None or entry.kind == "empty":
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == entry.id, outbox.c.status != "sending")
                .values(
                    status="pending",
                    next_attempt_at=_stamp(_now()),
                    claimed_at=None,
                    handed_over_at=None,
                )  # fmt: skip
            )
        return self.get(user, date)

    def _move(self, entry_id: int, from_status: str, **values) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox)
                .where(outbox.c.id == entry_id, outbox.c.status == from_status)
                .values(**values)
            )
        return result.rowcount == 1
