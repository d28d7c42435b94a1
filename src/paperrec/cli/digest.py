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
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from paperrec.cli.app import command, console, fail, out, print_json, runtime
from paperrec.digest.compose import Planned, plan_digests
from paperrec.digest.delivery import Delivery, deliver, record, recover
from paperrec.digest.mailer import build_message, smtp_address
from paperrec.digest.render import FORMATS, as_json, render, render_email
from paperrec.errors import InputError, unknown_choice
from paperrec.runtime import Runtime
from paperrec.serving.engine import DEFAULT_WINDOW_DAYS, Engine

EXTENSIONS = {"email": ".eml", "html": ".html", "markdown": ".md", "json": ".json"}


def _file_stem(user: str, date: dt.date) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", user).lstrip(".") or "user"
    return f"{date.isoformat()}-{safe}"


def _write_bytes(path: Path, data: bytes) -> None:
    """Write atomically (temp file, then rename) so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_digest(
    planned: Planned, formats: Sequence[str], out_dir: Path, sender: str
) -> list[Path]:
    """``<date>-<user>.<ext>`` in ``out_dir`` per format (email: the whole .eml message)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out_dir / (_file_stem(planned.user, planned.date) + EXTENSIONS[fmt])
        if fmt == "email":
            data = build_message(render_email(planned.content), sender).as_bytes()
        else:
            data = render(planned.content, fmt).encode("utf-8")
        _write_bytes(path, data)
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


def _compose(rt: Runtime, names, day, days, dry_run, formats, out_dir, printed) -> None:
    """Compose (and unless ``dry_run`` record) every due user's digest, reporting each."""
    recorded = {e.user for e in rt.store.outbox.entries(names=names, date=day)}
    if not dry_run and not set(names) - recorded:
        for name in names:  # nothing to compose: no need to load the models
            _say(f"recorded: {name} (already recorded for {day})")
        return
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
        if planned.status == "ready" and printed is not None:
            printed.append(planned)
        else:
            _report_plan(planned, dry_run, files)


def _print_documents(planned: list[Planned], fmt: str) -> None:
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
) -> None:
    """Compose, record and email each user's digest for a date; exit 1 if one stays unsent."""
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
    rt = _runtime()
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
    if not dry_run:
        host, port = smtp_address(rt.settings)
        _say(f"sending through SMTP {host}:{port} ({rt.settings.smtp_security})")
        _recover(rt, names, day, resend)
    printed: list[Planned] | None = (
        [] if dry_run and out_dir is None and formats != ["email"] else None
    )
    _compose(rt, names, day, days, dry_run, formats, out_dir, printed)
    if printed is not None:
        _print_documents(printed, formats[0])
    if out_dir is not None:
        _say(f"digest files in {out_dir.resolve()}")
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
    if waiting:
        raise fail(f"{len(waiting)} digest(s) not sent yet; they stay in the outbox")


def _runtime() -> Runtime:
    """The runtime; a setting the environment gets wrong is one line naming the variable."""
    try:
        return runtime()
    except ValidationError as exc:
        problems = "; ".join(
            f"PAPERREC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"bad setting: {problems}") from None


def _recover(rt: Runtime, names: Sequence[str], day: dt.date, resend: bool) -> None:
    retried, unconfirmed = recover(rt.store, rt.settings)
    for entry in retried:
        _say(f"{entry.user} ({entry.date}): an earlier run stopped before sending; sending now")
    for entry in unconfirmed:
        _say(
            f"{entry.user} <{entry.email}> ({entry.date}): an earlier run stopped while the SMTP "
            "server was taking the message; it may have arrived, so it is not sent again. "
            f"Check, then send it with: paperrec digest --user {entry.user} --date "
            f"{entry.date} --resend",
            "bold yellow",
        )
    if resend:
        for name in names:
            if rt.store.outbox.requeue(name, day) is None:
                raise InputError(f"{name} has no digest recorded for {day} to send again")
