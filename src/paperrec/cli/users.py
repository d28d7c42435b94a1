"""Commands for users and their feedback: ``paperrec user ...`` and ``paperrec feedback``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paperrec.cli.app import command, console, fail, out, print_json, runtime, subgroup
from paperrec.errors import InputError
from paperrec.profiles import (
    FEEDBACK_SIGNALS,
    add_user,
    delete_user,
    export_user,
    list_users,
    record_feedback,
)
from paperrec.schema import FeedbackSource

user_app = subgroup("user", "Add, list, export and delete users; create their API keys.")


def _known_topics() -> set[str] | None:
    """Topic ids of the default taxonomy, or None when no taxonomy module is installed."""
    try:
        from paperrec.taxonomy import load_taxonomy
    except ImportError:
        return None
    return set(load_taxonomy().ids)


def _write_json(path: Path, data) -> None:
    """Write atomically (temp file, then rename) so a crash never leaves half an export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@command("add", group=user_app)
def user_add(
    name: Annotated[str, typer.Argument(help="unique user name")],
    email: Annotated[str, typer.Option(help="address the digest goes to")],
    topics: Annotated[str, typer.Option(help="chosen topic ids, comma-separated")] = "",
    seed: Annotated[
        list[str],
        typer.Option(
            help="papers the user likes: a JSONL/CSV/Atom/BibTeX file or HF papers page, "
            "or comma-separated arXiv ids already in the store; repeatable"
        ),
    ] = [],  # noqa: B006  (typer reads the default; it is never mutated)
) -> None:
    """Add a user with chosen topics and seed papers; nothing is written if any part fails."""
    rt = runtime()
    known = _known_topics() if topics.strip() else None
    added = add_user(rt.store, name, email, topics, seed, known_topics=known)
    for problem in added.problems[:20]:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False, soft_wrap=True)
    if len(added.problems) > 20:
        console.print(f"[yellow]... and {len(added.problems) - 20} more problems[/]")
    topics_text = ", ".join(added.user.topics) or "none"
    out.print(
        f"added user {added.user.name} <{added.user.email}>: {len(added.seeds)} seed paper(s) "
        f"({added.ingested.added} new to the store), topics: {topics_text}",
        highlight=False,
        soft_wrap=True,
    )
    if not added.seeds and not added.user.topics:
        console.print("[yellow]no seeds or topics yet:[/] recommendations start with feedback")


@command("list", group=user_app)
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List users with their number of feedback events, shown papers and API keys."""
    rows = list_users(runtime().store)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no users yet (paperrec user add NAME --email ADDR)")
        return
    table = Table()
    for column in ("name", "email", "topics", "feedback", "shown", "api keys", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["email"],
            ", ".join(row["topics"]),
            str(row["feedback"]),
            str(row["shown"]),
            str(row["api_keys"]),
            (row["created_at"] or "")[:10],
        )
    out.print(table)


@command("export", group=user_app)
def user_export(
    name: Annotated[str, typer.Argument(help="user to export")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Everything stored about a user as JSON: profile, feedback, shown papers, key ids."""
    data = export_user(runtime().store, name)
    if output is None:
        print_json(data)
        return
    _write_json(output, data)
    console.print(f"exported user {name} to {output}", highlight=False)


@command("delete", group=user_app)
def user_delete(
    name: Annotated[str, typer.Argument(help="user to delete")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a user and all their feedback, shown papers and API keys."""
    store = runtime().store
    store.users.get(name)  # an unknown name fails here, before any prompt
    if not yes and not typer.confirm(f"delete user {name} and everything stored about them?"):
        raise fail("not deleted")
    removed = delete_user(store, name)
    out.print(
        f"deleted user {name}: {removed['feedback']} feedback event(s), "
        f"{removed['shown']} shown paper(s), {removed['api_keys']} API key(s)",
        highlight=False,
        soft_wrap=True,
    )


@command("key", group=user_app)
def user_key(
    name: Annotated[str | None, typer.Argument(help="user the key acts for")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="a key that acts for every user")] = False,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    if (name is None) == (not admin):
        raise InputError("give either a user NAME or --admin, not both or neither")
    key = runtime().store.users.create_key(None if admin else name)
    console.print(
        f"new {'admin API key' if admin else f'API key for {name}'}: "
        "store it now, it is not shown again",
        highlight=False,
        soft_wrap=True,
    )
    out.print(key, highlight=False, soft_wrap=True)


@command("feedback")
def feedback(
    name: Annotated[str, typer.Argument(help="user giving the feedback")],
    paper_id: Annotated[str, typer.Argument(help="arXiv id (any version), abs URL or paper id")],
    signal: Annotated[str, typer.Argument(help=" | ".join(s.value for s in FEEDBACK_SIGNALS))],
) -> None:
    """Record a user's feedback on a paper (stored with the time and source 'cli')."""
    event = record_feedback(runtime().store, name, paper_id, signal, FeedbackSource.CLI)
    out.print(
        f"{event.user}: {event.signal.value} {event.paper_id} "
        f"({event.source.value}, {event.created_at.isoformat(timespec='seconds')})",
        highlight=False,
        soft_wrap=True,
    )
