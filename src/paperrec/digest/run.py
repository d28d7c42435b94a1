"""One ``paperrec digest`` run as a library call: `run_digests` does the work and yields
what happened, one event at a time; the CLI and ``bench/digest.py`` only print the events.

A run: put back what a killed run left half-sent and name every unconfirmed digest
(`paperrec.digest.delivery.recover`), compose each due user's digest for the date
(`paperrec.digest.compose`), record it in the outbox and write it to ``out_dir`` if asked,
then send every due outbox entry with retries (`paperrec.digest.delivery.deliver`). A
rerun for the same date sends nothing twice. ``dry_run`` composes (and writes files) only;
``send=False`` composes and records, leaving the sending to the next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from paperrec.digest.compose import compose_due
from paperrec.digest.delivery import Delivery, deliver, record, recover
from paperrec.digest.due import Planned, settle
from paperrec.digest.files import write_digest
from paperrec.digest.mailer import smtp_address
from paperrec.errors import InputError
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS
from paperrec.runtime import Runtime
from paperrec.serving.predictor import Predictor
from paperrec.store import OutboxEntry


@dataclass(frozen=True)
class Sending:
    """The run will send through this SMTP server."""

    host: str
    port: int
    security: str


@dataclass(frozen=True)
class Resumed:
    """An earlier run stopped before sending ``entry``; this run sends it."""

    entry: OutboxEntry


@dataclass(frozen=True)
class Unconfirmed:
    """A run stopped while the SMTP server was taking ``entry``: it may have arrived, so it
    is not sent again until an operator confirms or resends it."""

    entry: OutboxEntry


@dataclass(frozen=True)
class Composed:
    """One user's digest for the date, recorded unless the run is a dry run, or why there
    is none (``planned.status``); ``files`` written to ``out_dir``."""

    planned: Planned
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class FilesWritten:
    """Composing is over; ``files`` digest files were written to ``out_dir``."""

    out_dir: Path
    files: int


@dataclass(frozen=True)
class Waiting:
    """``entry`` failed earlier and waits in the outbox until its next attempt is due."""

    entry: OutboxEntry


@dataclass(frozen=True)
class Finished:
    """The run is over: digests still not sent (kept in the outbox) and unconfirmed ones."""

    waiting: int
    unconfirmed: int


Event = Sending | Resumed | Unconfirmed | Composed | FilesWritten | Delivery | Waiting | Finished


def run_digests(
    rt: Runtime,
    names: Sequence[str],
    date: dt.date,
    *,
    max_days: int = DEFAULT_WINDOW_DAYS,
    dry_run: bool = False,
    send: bool = True,
    resend: bool = False,
    out_dir: Path | None = None,
    formats: Sequence[str] = ("email",),
    predictor: Predictor | None = None,
) -> Iterator[Event]:
    """Compose, record and send the digests of ``names`` for ``date``, yielding each event.

    Parameters
    ----------
    rt
        The store, settings and embedder.
    names
        Existing users, in the order they are reported.
    date
        The digest's date: the last announcement date it covers.
    max_days
        How far a first digest (or one after a long pause) looks back, in days.
    dry_run
        Compose (and write ``out_dir``) only: record and send nothing.
    send
        False: compose and record, send nothing (the entries wait for the next run).
    resend
        Send the users' recorded digests for ``date`` again.
    out_dir, formats
        Also write each composed digest to this folder, once per format.
    predictor
        Loaded champion models (default: loaded here, and only if someone is due).
    """
    sending = send and not dry_run
    if sending:
        yield Sending(*smtp_address(rt.settings), rt.settings.smtp_security)
        yield from _recover(rt, names, date, resend)
    written = 0
    for event in _compose(rt, names, date, max_days, dry_run, out_dir, formats, predictor):
        written += len(event.files)
        yield event
    if out_dir is not None:
        yield FilesWritten(out_dir, written)
    if sending:
        yield from _deliver(rt, names)


def _recover(rt: Runtime, names: Sequence[str], date: dt.date, resend: bool) -> Iterator[Event]:
    """Put back what a killed run left; requeue what is to be sent again; then name every
    unconfirmed digest (of any run, any date) until an operator resends or confirms it."""
    retried, _ = recover(rt.store, rt.settings)
    for entry in retried:
        yield Resumed(entry)
    if resend:
        for name in names:
            if rt.store.outbox.requeue(name, date) is None:
                raise InputError(f"{name} has no digest recorded for {date} to send again")
    for entry in rt.store.outbox.outstanding(names):
        if entry.status == "unconfirmed":
            yield Unconfirmed(entry)


def _compose(rt, names, date, max_days, dry_run, out_dir, formats, predictor) -> Iterator[Composed]:
    """Compose (and unless ``dry_run`` record) every due user's digest; the models load
    only when someone is due."""
    settled, due = settle(rt.store, names, date, max_days=max_days)
    for planned in settled:
        yield Composed(planned)
    if not due:
        return
    predictor = predictor or Predictor.load(rt)
    workers = rt.settings.resolved_digest_workers
    for planned in compose_due(predictor, due, date, workers=workers):
        if planned.status in ("ready", "empty") and not dry_run:
            entry, created = record(rt.store, planned, rt.settings)
            if not created:  # another run recorded it between settling and now
                detail = f"by another run, {entry.status}"
                yield Composed(replace(planned, status="recorded", content=None, detail=detail))
                continue
        files: list[Path] = []
        if planned.status == "ready" and out_dir is not None:
            files = write_digest(planned, formats, out_dir, rt.settings.smtp_from)
        yield Composed(planned, tuple(files))


def _deliver(rt: Runtime, names: Sequence[str]) -> Iterator[Event]:
    """Send every due outbox entry; then what still waits, and the totals."""
    failed = set()
    for delivery in deliver(rt.store, rt.settings, names):
        yield delivery
        if delivery.status == "failed":
            failed.add(delivery.entry.id)
    waiting = rt.store.outbox.entries(names=names, status="pending")
    for entry in waiting:
        if entry.id not in failed:  # failed earlier, its next attempt not due yet
            yield Waiting(entry)
    unconfirmed = [e for e in rt.store.outbox.outstanding(names) if e.status == "unconfirmed"]
    yield Finished(len(waiting), len(unconfirmed))
