"""``paperrec digest``: each user's new papers by email, through the outbox.

One run: put back what a killed run left half-sent (`paperrec.digest.delivery.recover`), compose
each due user's digest for the date (`paperrec.digest.compose.plan_digests`), record it in the
outbox, then send every due outbox entry with retries (`paperrec.digest.delivery.deliver`). A
rerun for the same date sends nothing twice; run it from cron or a systemd timer as often
as you like. ``--dry-run`` composes and shows, records and sends nothing. One user's failed
send does not stop the others; the exit code is 1 only if a digest is still unsent at the
end of the run (it stays in the outbox for the next run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paperrec.cli.app import command, console, fail, new_table, out, print_json, runtime
from paperrec.errors import InputError, unknown_choice
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS

if TYPE_CHECKING:
    from paperrec.digest.compose import Planned
    from paperrec.digest.delivery import Delivery
    from paperrec.runtime import Runtime

EXTENSIONS = {"email": ".eml", "html": ".html", "markdown": ".md", "json": ".json"}


def _file_stem(user: str, date: dt.date) -> str:
    """``DATE-USER``; a name that had to be changed to be a file name (``a/b``, ``zoë``)
    gets a short hash of the real name, so two users never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", user).lstrip(".") or "user"
    if safe != user:
        safe += "-" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:8]
    return f"{date.isoformat()}-{safe}"


def write_digest(
    planned: Planned, formats: Sequence[str], out_dir: Path, sender: str
) -> list[Path]:
    """``<date>-<user>.<ext>`` in ``out_dir`` per format (email: the whole .eml message)."""
    from paperrec.digest.mailer import build_message
    from paperrec.digest.render import render, render_email
    from paperrec.store.files import write_output

    written = []
    for fmt in formats:
        path = out_dir / (_file_stem(planned.user, planned.date) + EXTENSIONS[fmt])
        if fmt == "email":
            data = build_message(render_email(planned.content), sender).as_bytes()
        else:
            data = render(planned.content, fmt).encode("utf-8")
        write_output(path, data)
        written.append(path)
    return written


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


def _compose(rt: Runtime, names, day, days, dry_run, formats, out_dir, printed) -> list[Path]:
    """Compose (and unless ``dry_run`` record) every due user's digest, reporting each;
    returns the files written to ``out_dir``."""
    from paperrec.digest.compose import plan_digests
    from paperrec.digest.delivery import record
    from paperrec.serving.engine import Engine

    recorded = {e.user for e in rt.store.outbox.entries(names=names, date=day)}
    if not dry_run and not set(names) - recorded:
        for name in names:  # nothing to compose: no need to load the models
            _say(f"recorded: {name} (already recorded for {day})")
        return []
    written: list[Path] = []
    engine = Engine.load(rt)
    workers = rt.settings.resolved_digest_workers
    for planned in plan_digests(engine, names, day, max_days=days, workers=workers):
        files: list[Path] = []
        if planned.status in ("ready", "empty") and not dry_run:
            entry, created = record(rt.store, planned, rt.settings)
            if not created:  # another run recorded it between our check and now
                _say(f"recorded: {planned.user} (by another run, {entry.status})")
                continue
        if planned.status == "ready" and out_dir is not None:
            files = write_digest(planned, formats, out_dir, rt.settings.smtp_from)
            written += files
        if planned.status == "ready" and printed is not None:
            printed.append(planned)
        else:
            _report_plan(planned, dry_run, files)
    return written


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
    from paperrec.digest.delivery import deliver
    from paperrec.digest.mailer import smtp_address
    from paperrec.digest.render import FORMATS
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
    if not dry_run:
        host, port = smtp_address(rt.settings)
        _say(f"sending through SMTP {host}:{port} ({rt.settings.smtp_security})")
        _recover(rt, names, day, resend)
    printed: list[Planned] | None = (
        [] if dry_run and out_dir is None and formats != ["email"] else None
    )
    written = _compose(rt, names, day, days, dry_run, formats, out_dir, printed)
    if printed is not None:
        _print_documents(printed, formats[0])
    if out_dir is not None:
        where = out_dir.resolve()
        _say(
            f"wrote {len(written)} digest file(s) to {where}"
            if written
            else f"no digest files written to {where}: no digest was composed in this run"
        )
    if dry_run:
        return
    failed = set()
    for delivery in deliver(rt.store, rt.settings, names):
        _report_delivery(delivery)
        if delivery.status == "failed":
            failed.add(delivery.entry.id)
    waiting = [e for e in rt.store.outbox.entries(names=names, status="pending")]
    for entry in waiting:
        if entry.id not in failed:  # failed earlier, its next attempt not due yet
            _say(
                f"waiting: {entry.user} ({entry.date}) until {entry.next_attempt_at[:19]} UTC "
                f"after {entry.attempts} failed attempt(s), last: {entry.last_error}; to try now: "
                f"paperrec digest --user {entry.user} --date {entry.date} --resend",
                "yellow",
            )
    unconfirmed = [e for e in rt.store.outbox.outstanding(names) if e.status == "unconfirmed"]
    if waiting or unconfirmed:
        parts = [f"{len(waiting)} digest(s) not sent yet (they stay in the outbox)"] * bool(
            waiting
        ) + [f"{len(unconfirmed)} unconfirmed (see above)"] * bool(unconfirmed)
        raise fail("; ".join(parts) + "; paperrec digest --status lists them")


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


def _recover(rt: Runtime, names: Sequence[str], day: dt.date, resend: bool) -> None:
    """Put back what a killed run left; then report every unconfirmed digest (of any
    run, any date) until an operator resends or confirms it."""
    from paperrec.digest.delivery import recover

    retried, _ = recover(rt.store, rt.settings)
    for entry in retried:
        _say(f"{entry.user} ({entry.date}): an earlier run stopped before sending; sending now")
    if resend:
        for name in names:
            if rt.store.outbox.requeue(name, day) is None:
                raise InputError(f"{name} has no digest recorded for {day} to send again")
    for entry in rt.store.outbox.outstanding(names):
        if entry.status != "unconfirmed":
            continue
        command = f"paperrec digest --user {entry.user} --date {entry.date}"
        _say(
            f"unconfirmed: {entry.user} <{entry.email}> ({entry.date}): a run stopped while the "
            "SMTP server was taking the message; it may have arrived, so it is not sent again. "
            f"Check the mailbox, then: {command} --confirm (it arrived) or {command} --resend",
            "bold yellow",
        )
