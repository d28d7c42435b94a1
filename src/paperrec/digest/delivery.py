"""Delivering digests through the outbox: record first, send, retry with back-off.

`record` stores a composed digest, rendered, in the store's outbox (at most one per user
and date). `deliver` sends the outbox's due entries: each is claimed, sent with
`paperrec.digest.mailer.send_digest`, and marked sent (its papers shown) once the SMTP server
has accepted it. A failed attempt goes back to the outbox with a later time, doubling
from ``Settings.digest_retry_delay``; within one run each entry gets
``Settings.digest_attempts_per_run`` attempts, and what is still unsent waits for the next
run. `recover` handles what a killed run left behind (see `paperrec.store.outbox`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from paperrec.config import Settings
from paperrec.digest.due import Planned
from paperrec.digest.mailer import new_message_id, send_digest
from paperrec.digest.render import Digest, render_email
from paperrec.errors import PaperrecError
from paperrec.store import NewEntry, OutboxEntry, Store

MAX_RETRY_DELAY = 3600.0
STALE_TIMEOUTS = 20  # a claim older than this many SMTP timeouts is abandoned (other hosts)


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbox entry in this run; ``retry_at`` for failed and retrying."""

    entry: OutboxEntry
    status: Literal["sent", "retrying", "failed"]
    detail: str = ""
    retry_at: dt.datetime | None = None


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: doubling, capped at an hour."""
    return min(settings.digest_retry_delay * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def record(store: Store, planned: Planned, settings: Settings) -> tuple[OutboxEntry, bool]:
    """Store ``planned`` (status ready or empty) in the outbox, rendered; returns (entry,
    True), or (the entry already there, False) if the user has one for that date."""
    if planned.status == "ready":
        digest = render_email(planned.content)
        entry = NewEntry(
            user=planned.user, date=planned.content.date, kind=digest.kind,
            email=planned.email, subject=digest.subject, html=digest.html, text=digest.text,
            paper_ids=digest.paper_ids, message_id=new_message_id(settings.smtp_from),
        )  # fmt: skip
    elif planned.status == "empty":
        entry = NewEntry(
            user=planned.user, date=planned.date, kind="empty", email=planned.email,
            subject="", html="", text="", paper_ids=(), message_id="",
        )  # fmt: skip
    else:
        raise ValueError(f"only ready or empty digests are recorded, not {planned.status}")
    return store.outbox.record(entry)


def recover(store: Store, settings: Settings) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
    """Put entries a killed run left ``sending`` back to pending, or mark them unconfirmed
    when the message had already been handed over; returns (retried, unconfirmed)."""
    stale = dt.timedelta(seconds=STALE_TIMEOUTS * settings.smtp_timeout)
    return store.outbox.recover(dt.datetime.now(dt.UTC) - stale)


def as_digest(entry: OutboxEntry) -> Digest:
    return Digest(
        entry.user, entry.email, entry.subject, entry.html, entry.text, entry.paper_ids, entry.kind
    )


def deliver(
    store: Store,
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Delivery]:
    """Send every due outbox entry (of ``names``, default everyone's), oldest date first.

    Yields a `Delivery` per attempt outcome: ``sent``; ``retrying`` (failed, tried again
    in this run after ``retry_at``); ``failed`` (out of attempts for this run, still in the
    outbox for the next). An entry another run has claimed is left to that run.
    """
    attempts_left: dict[int, int] = {}
    waiting: dict[int, dt.datetime] = {}
    entries = store.outbox.due(names)
    while entries or waiting:
        for entry in entries:
            waiting.pop(entry.id, None)
            left = attempts_left.setdefault(entry.id, settings.digest_attempts_per_run)
            outcome = _attempt(store, settings, entry, final=left == 1)
            if outcome is None:
                continue  # another run claimed it first
            attempts_left[entry.id] = left - 1
            if outcome.status == "retrying":
                waiting[entry.id] = outcome.retry_at
            yield outcome
        if not waiting:
            return
        pause = (min(waiting.values()) - dt.datetime.now(dt.UTC)).total_seconds()
        sleep(max(pause, 0.01))
        pending = {e.id for e in store.outbox.entries(names=names, status="pending")}
        waiting = {i: at for i, at in waiting.items() if i in pending}  # else another run has it
        entries = [e for e in store.outbox.due(names) if e.id in waiting]


def _attempt(store: Store, settings: Settings, entry: OutboxEntry, final: bool) -> Delivery | None:
    """One attempt at one entry; None if another run claimed it first."""
    if not store.outbox.claim(entry.id):
        return None
    try:
        send_digest(
            as_digest(entry), settings, message_id=entry.message_id,
            on_handover=lambda: store.outbox.handing_over(entry.id),
        )  # fmt: skip
    except PaperrecError as exc:
        retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(
            seconds=retry_delay(settings, entry.attempts + 1)
        )
        store.outbox.release(entry.id, str(exc), retry_at)
        return Delivery(entry, "failed" if final else "retrying", str(exc), retry_at)
    store.outbox.mark_sent(entry)
    return Delivery(entry, "sent")
