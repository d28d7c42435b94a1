"""``paperrec digest``: each user's best new papers by email, with feedback links.

For every user (or each ``--user``) it asks `Engine.recommend` for the best unseen papers,
renders them (`paperrec.digest`) and sends them (`paperrec.mailer`). Papers are marked as
shown only once that user's email was accepted by the SMTP server; ``--dry-run`` sends
nothing and marks nothing. A user with no new papers is reported and skipped. One user's
failed send does not stop the others; the exit code is 1 only if some send failed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer

from paperrec.cli.app import command, console, fail, out, runtime
from paperrec.digest import Digest, render_digest
from paperrec.engine import DEFAULT_WINDOW_DAYS, Engine
from paperrec.errors import InputError, PaperrecError
from paperrec.mailer import send_digest, smtp_address


@dataclass(frozen=True)
class Outcome:
    """What happened to one user's digest; ``detail`` says why for skipped and failed."""

    user: str
    status: Literal["sent", "previewed", "skipped", "failed"]
    digest: Digest | None = None
    detail: str = ""
    files: tuple[Path, ...] = ()


def deliver_digests(
    engine: Engine,
    users: Sequence[str],
    *,
    date: dt.date,
    days: int = DEFAULT_WINDOW_DAYS,
    k: int = 10,
    dry_run: bool = False,
    out_dir: Path | None = None,
) -> Iterator[Outcome]:
    """Recommend, render and (unless ``dry_run``) send each user's digest, one at a time.

    Yields one `Outcome` per user as it is done. Expected per-user problems (no new papers,
    an empty profile, a send that failed) become outcomes; configuration problems (no token
    secret, no model) raise before anything is sent.
    """
    store = engine.runtime.store
    settings = engine.runtime.settings
    for name in users:
        user = store.users.get(name)
        try:
            ranked = engine.recommend(name, k=k, date=date, days=days, mark_shown=False)
        except InputError as exc:
            yield Outcome(name, "skipped", detail=str(exc))
            continue
        digest = render_digest(
            name, user.email, ranked, secret=settings.token_secret,
            public_url=settings.public_url, date=date,
        )  # fmt: skip
        files = write_digest(digest, out_dir, date) if out_dir is not None else ()
        if dry_run:
            yield Outcome(name, "previewed", digest, files=files)
            continue
        try:
            send_digest(digest, settings)
        except PaperrecError as exc:
            yield Outcome(name, "failed", digest, detail=str(exc), files=files)
            continue
        store.users.mark_shown(name, digest.paper_ids)
        yield Outcome(name, "sent", digest, files=files)


def _file_stem(user: str, date: dt.date) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", user).lstrip(".") or "user"
    return f"{date.isoformat()}-{safe}"


def _write_text(path: Path, text: str) -> None:
    """Write atomically (temp file, then rename) so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_digest(digest: Digest, out_dir: Path, date: dt.date) -> tuple[Path, Path]:
    """``<date>-<user>.html`` and ``.txt`` in ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(digest.user, date)
    html, text = out_dir / f"{stem}.html", out_dir / f"{stem}.txt"
    _write_text(html, digest.html)
    _write_text(text, digest.text)
    return html, text


def _report(outcome: Outcome) -> None:
    who = outcome.user + (f" <{outcome.digest.email}>" if outcome.digest else "")
    written = f", wrote {', '.join(map(str, outcome.files))}" if outcome.files else ""
    if outcome.status in ("skipped", "failed"):
        style = "yellow" if outcome.status == "skipped" else "bold red"
        console.print(
            f"[{style}]{outcome.status}[/] {who}: {outcome.detail}", highlight=False, soft_wrap=True
        )
    else:
        verb = "sent" if outcome.status == "sent" else "would send"
        n = len(outcome.digest.paper_ids)
        out.print(f"{verb} {who}: {n} paper(s){written}", highlight=False, soft_wrap=True)
        if outcome.status == "previewed" and not outcome.files:
            out.print(f"  subject: {outcome.digest.subject}", highlight=False, soft_wrap=True)
            for pid in outcome.digest.paper_ids:
                out.print(f"  - {pid}", highlight=False, soft_wrap=True)


@command("digest")
def digest(
    user: Annotated[
        list[str], typer.Option("--user", help="only this user; repeatable (default: every user)")
    ] = [],  # noqa: B006  (typer reads the default; it is never mutated)
    date: Annotated[
        str | None,
        typer.Option(help="last day of the window, YYYY-MM-DD (default: newest in store)"),
    ] = None,
    days: Annotated[int, typer.Option(help="window length in days")] = DEFAULT_WINDOW_DAYS,
    k: Annotated[int, typer.Option("-k", help="papers per digest")] = 10,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="render only: send nothing, mark nothing as shown")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="also write each digest here as DATE-USER.html and .txt"),
    ] = None,
) -> None:
    """Email each user their best new papers, with feedback links; exit 1 if a send failed."""
    if k < 1 or days < 1:
        raise InputError(f"-k and --days must be at least 1, got -k {k} --days {days}")
    rt = runtime()
    try:
        day = dt.date.fromisoformat(date) if date else rt.store.papers.latest_date()
    except ValueError:
        raise InputError(f"--date {date!r} is not YYYY-MM-DD") from None
    if day is None:
        raise InputError("the store holds no dated papers; ingest some (paperrec ingest)")
    names = list(dict.fromkeys(user)) or rt.store.users.names()
    if not names:
        out.print("no users yet (paperrec user add NAME --email ADDR)")
        return
    for name in names:
        rt.store.users.get(name)  # an unknown --user fails here, before anything is sent
    if not dry_run:
        host, port = smtp_address(rt.settings)
        mode = rt.settings.smtp_security
        console.print(f"sending through SMTP {host}:{port} ({mode})", highlight=False)
    engine = Engine.load(rt)
    counts = {"sent": 0, "previewed": 0, "skipped": 0, "failed": 0}
    outcomes = deliver_digests(
        engine, names, date=day, days=days, k=k, dry_run=dry_run, out_dir=out_dir
    )
    for outcome in outcomes:
        counts[outcome.status] += 1
        _report(outcome)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    console.print(f"digest for {day.isoformat()}: {summary}", highlight=False)
    if counts["failed"]:
        raise fail(f"{counts['failed']} of {len(names)} digest(s) could not be sent")
