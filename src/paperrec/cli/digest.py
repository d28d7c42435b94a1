"""``paperrec digest``: each user's new papers by email, through the outbox.

The run is `paperrec.digest.run.run_digests` (recover, compose, record, send); this module
checks the options and prints the events it yields. ``--status`` and ``--confirm`` read and
mark the outbox. The exit code is 1 only if a digest is still unsent at the end of the run
(it stays in the outbox for the next run).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paperrec.cli.app import command, console, fail, new_table, out, print_json, runtime
from paperrec.errors import InputError, unknown_choice
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS

if TYPE_CHECKING:
    from paperrec.digest.delivery import Delivery
    from paperrec.digest.due import Planned
    from paperrec.digest.run import Event
    from paperrec.runtime import Runtime


def _say(text: str, style: str = "") -> None:
    console.print(f"[{style}]{text}[/]" if style else text, highlight=False, soft_wrap=True)


def _report_plan(planned: Planned, dry_run: bool, files: list[Path]) -> None:
    who = f"{planned.user} <{planned.email}>"
    written = f"; wrote {', '.join(map(str, files))}" if files else ""
    if planned.status == "ready":
        n = len(planned.content.items)
        what = f"{n} paper(s)" if n else "a 'nothing new today' notice"
        verb = "would send" if dry_run else "recorded"
        out.print(f"{verb} {who}: {what}{written}", highlight=False, soft_wrap=True)
    elif planned.status == "empty":
        _say(f"nothing for {planned.user}: {planned.detail} (no notice wanted)")
    elif planned.status == "skipped":
        _say(f"skipped {planned.user}: {planned.detail}", "yellow")
    else:
        _say(f"{planned.status.replace('_', ' ')}: {planned.user} ({planned.detail})")


def _report_delivery(delivery: Delivery) -> None:
    entry = delivery.entry
    who = f"{entry.user} <{entry.email}> ({entry.date})"
    if delivery.status == "sent":
        out.print(f"sent {who}: {len(entry.paper_ids)} paper(s)", highlight=False, soft_wrap=True)
        return
    at = delivery.retry_at.astimezone().strftime("%H:%M:%S") if delivery.retry_at else "?"
    if delivery.status == "retrying":
        _say(f"retrying {who} at {at}: {delivery.detail}", "yellow")
    else:
        _say(
            f"failed {who}: {delivery.detail}; kept in the outbox, next try after {at}", "bold red"
        )


def _print_documents(planned: list[Planned], fmt: str) -> None:
    from paperrec.digest.render import as_json, render

    if fmt == "json":
        print_json([as_json(p.content) for p in planned])
        return
    for p in planned:
        sys.stdout.write(render(p.content, fmt) + "\n")


@command("digest")
def digest(
    user: Annotated[
        list[str], typer.Option("--user", help="only this user; repeatable (default: every user)")
    ] = [],  # noqa: B006  (typer reads the default; it is never mutated)
    date: Annotated[
        str | None,
        typer.Option(help="the digest's date, YYYY-MM-DD (default: today in PAPERREC_TIMEZONE)"),
    ] = None,
    days: Annotated[
        int, typer.Option(help="how far a first digest looks back, in days")
    ] = DEFAULT_WINDOW_DAYS,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="compose and show only: record and send nothing")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="also write each composed digest here as DATE-USER.<ext>"),
    ] = None,
    formats: Annotated[
        list[str],
        typer.Option(
            "--format",
            help="what --out writes or --dry-run prints: email (.eml), html (a page), markdown, "
            "json; repeatable (default: email)",
        ),
    ] = [],  # noqa: B006
    resend: Annotated[
        bool,
        typer.Option("--resend", help="send the users' recorded digest for --date again"),
    ] = False,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="list the digests not delivered yet (pending, failed, unconfirmed) and send "
            "nothing; exit 1 if there are any",
        ),
    ] = False,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="the unconfirmed digest of --user for --date did arrive: mark it sent",
        ),
    ] = False,
) -> None:
    """Compose, record and email each user's digest for a date; exit 1 while a digest is
    unsent or unconfirmed (see --status)."""
    from paperrec.digest.render import FORMATS
    from paperrec.digest.run import Composed, run_digests
    from paperrec.store.files import check_output

    for fmt in formats:
        if fmt not in FORMATS:
            raise InputError(unknown_choice("--format", fmt, FORMATS))
    formats = list(dict.fromkeys(formats)) or ["email"]
    if days < 1:
        raise InputError(f"--days must be at least 1, got {days}")
    if formats != ["email"] and out_dir is None and not dry_run:
        raise InputError("--format chooses what --out writes or --dry-run prints; add one")
    if resend and dry_run:
        raise InputError("--resend sends; it cannot be combined with --dry-run")
    if sum([resend, dry_run, status, confirm]) > 1:
        raise InputError("give at most one of --resend, --dry-run, --status, --confirm")
    if confirm and (not user or date is None):
        raise InputError("--confirm needs --user NAME and --date YYYY-MM-DD of the digest")
    check_output(out_dir, directory=True)
    rt = runtime()
    try:
        day = dt.date.fromisoformat(date) if date else rt.settings.today()
    except ValueError:
        raise InputError(f"--date {date!r} is not YYYY-MM-DD") from None
    names = list(dict.fromkeys(user)) or rt.store.users.names()
    if not names:
        out.print("no users yet (paperrec user add NAME --email ADDR)")
        return
    for name in names:
        rt.store.users.get(name)  # an unknown --user fails here, before anything is sent
    if status:
        return _status(rt, names)
    if confirm:
        return _confirm(rt, names, day)
    printing = dry_run and out_dir is None and formats != ["email"]
    printed: list[Planned] = []
    events = run_digests(
        rt, names, day, max_days=days, dry_run=dry_run, resend=resend, out_dir=out_dir,
        formats=formats,
    )  # fmt: skip
    for event in events:
        if printing and isinstance(event, Composed) and event.planned.status == "ready":
            printed.append(event.planned)
        else:
            _report(event, dry_run)
    if printing:
        _print_documents(printed, formats[0])


def _report(event: Event, dry_run: bool) -> None:
    """One event of the run, as a line (or, at the end, the exit)."""
    from paperrec.digest.delivery import Delivery
    from paperrec.digest.run import (
        Composed,
        FilesWritten,
        Finished,
        Resumed,
        Sending,
        Unconfirmed,
        Waiting,
    )  # fmt: skip

    if isinstance(event, Sending):
        _say(f"sending through SMTP {event.host}:{event.port} ({event.security})")
    elif isinstance(event, Resumed):
        entry = event.entry
        _say(f"{entry.user} ({entry.date}): an earlier run stopped before sending; sending now")
    elif isinstance(event, Unconfirmed):
        _report_unconfirmed(event.entry)
    elif isinstance(event, Composed):
        _report_plan(event.planned, dry_run, list(event.files))
    elif isinstance(event, FilesWritten):
        where = event.out_dir.resolve()
        _say(
            f"wrote {event.files} digest file(s) to {where}"
            if event.files
            else f"no digest files written to {where}: no digest was composed in this run"
        )
    elif isinstance(event, Delivery):
        _report_delivery(event)
    elif isinstance(event, Waiting):
        entry = event.entry
        _say(
            f"waiting: {entry.user} ({entry.date}) until {entry.next_attempt_at[:19]} UTC "
            f"after {entry.attempts} failed attempt(s), last: {entry.last_error}; to try now: "
            f"paperrec digest --user {entry.user} --date {entry.date} --resend",
            "yellow",
        )
    elif isinstance(event, Finished) and (event.waiting or event.unconfirmed):
        parts = [f"{event.waiting} digest(s) not sent yet (they stay in the outbox)"] * bool(
            event.waiting
        ) + [f"{event.unconfirmed} unconfirmed (see above)"] * bool(event.unconfirmed)
        raise fail("; ".join(parts) + "; paperrec digest --status lists them")


def _report_unconfirmed(entry) -> None:
    command = f"paperrec digest --user {entry.user} --date {entry.date}"
    _say(
        f"unconfirmed: {entry.user} <{entry.email}> ({entry.date}): a run stopped while the "
        "SMTP server was taking the message; it may have arrived, so it is not sent again. "
        f"Check the mailbox, then: {command} --confirm (it arrived) or {command} --resend",
        "bold yellow",
    )


def _status(rt: Runtime, names: Sequence[str]) -> None:
    """``--status``: every digest not delivered yet; exit 1 if there is one."""
    from paperrec.digest.delivery import recover
    from paperrec.store.outbox import attention

    recover(rt.store, rt.settings)  # a run that died leaves 'sending': say what it means now
    entries = rt.store.outbox.outstanding(names)
    if not entries:
        out.print("every recorded digest was delivered", highlight=False)
        return
    table = new_table(title="digests not delivered yet", title_justify="left")
    for column in ("state", "user", "date", "attempts", "detail", "what to do"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        state = attention(entry)
        command = f"paperrec digest --user {entry.user} --date {entry.date}"
        todo = {
            "unconfirmed": f"check the mailbox, then {command} --confirm (arrived) or --resend",
            "failed": f"the next run retries; now: {command} --resend",
            "pending": "the next run sends it",
        }[state]
        table.add_row(
            state, entry.user, str(entry.date), str(entry.attempts), entry.last_error or "", todo
        )
    out.print(table)
    counts = {
        s: sum(attention(e) == s for e in entries) for s in ("pending", "failed", "unconfirmed")
    }
    raise fail(", ".join(f"{n} {s}" for s, n in counts.items() if n) + " digest(s) not delivered")


def _confirm(rt: Runtime, names: Sequence[str], day: dt.date) -> None:
    """``--confirm``: an unconfirmed digest did arrive; record it as sent."""
    for name in names:
        if rt.store.outbox.confirm(name, day) is None:
            entry = rt.store.outbox.get(name, day)
            state = f"it is {entry.status}" if entry else "there is none"
            raise InputError(f"{name} has no unconfirmed digest for {day} ({state})")
        out.print(f"confirmed: {name} ({day}) marked sent", highlight=False, soft_wrap=True)
