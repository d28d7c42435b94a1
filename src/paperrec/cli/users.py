"""Commands for users and their feedback: ``paperrec user ...`` and ``paperrec feedback``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from paperrec.cli.app import (
    command,
    console,
    fail,
    new_table,
    out,
    print_json,
    print_problems,
    runtime,
    subgroup,
)
from paperrec.digest.budget import CADENCES, DigestSettings, describe, parse_quota
from paperrec.errors import InputError, unknown_choice
from paperrec.schema import FEEDBACK_SIGNALS, FeedbackSource

user_app = subgroup("user", "Add, list, export and delete users; create their API keys.")


def _known_topics() -> set[str] | None:
    """Topic ids of the default taxonomy, or None when no taxonomy module is installed."""
    try:
        from paperrec.topics.taxonomy import load_taxonomy
    except ImportError:
        return None
    return set(load_taxonomy().ids)


# Digest budget options, shared by `user add` and `user set`; None leaves a value as it is.
DigestK = Annotated[int | None, typer.Option("--k", help="papers per digest (default 10)")]
MinScore = Annotated[
    str | None,
    typer.Option(help="leave out papers the ranker scores lower; 'none' for no minimum"),
]
CadenceOpt = Annotated[str | None, typer.Option("--cadence", help="daily or weekly digests")]
TopicQuota = Annotated[
    str | None,
    typer.Option(
        help="most papers per main topic: '3', or 'llm=2,robotics=4,*=3'; 'none' for no quota"
    ),
]
EmptyNotice = Annotated[
    bool | None,
    typer.Option(
        "--empty-notice/--no-empty-notice",
        help="on days with nothing new, send a short notice (default: send nothing)",
    ),
]
TrendingOpt = Annotated[
    bool | None,
    typer.Option("--trending/--no-trending", help="add the papers most liked across users"),
]


def digest_settings(
    current: DigestSettings,
    k: int | None = None,
    min_score: str | None = None,
    cadence: str | None = None,
    topic_quota: str | None = None,
    empty_notice: bool | None = None,
    trending: bool | None = None,
) -> DigestSettings:
    """``current`` with the given options changed; InputError naming a bad one."""
    values = current.as_dict()
    if k is not None:
        values["k"] = k
    if min_score is not None:
        values["min_score"] = _parse_min_score(min_score)
    if cadence is not None:
        if cadence.strip().lower() not in CADENCES:
            raise InputError(unknown_choice("--cadence", cadence, CADENCES))
        values["cadence"] = cadence.strip().lower()
    if topic_quota is not None:
        text = "" if topic_quota.strip().lower() == "none" else topic_quota
        values["topic_quota"] = parse_quota(text, _known_topics() if text.strip() else None)
    if empty_notice is not None:
        values["empty_notice"] = empty_notice
    if trending is not None:
        values["trending"] = trending
    return DigestSettings(**values)


def _parse_min_score(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--min-score {text!r} is not a number (or 'none')") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"--min-score must be a finite number, got {text!r}")
    return value


def _settings_text(settings: DigestSettings) -> str:
    extras = [
        "notice on empty days" if settings.empty_notice else "",
        "trending" if settings.trending else "",
    ]
    return ", ".join([describe(settings), *filter(None, extras)])


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
    k: DigestK = None,
    min_score: MinScore = None,
    cadence: CadenceOpt = None,
    topic_quota: TopicQuota = None,
    empty_notice: EmptyNotice = None,
    trending: TrendingOpt = None,
) -> None:
    """Add a user with chosen topics and seed papers; nothing is written if any part fails."""
    from paperrec.users.profiles import add_user

    rt = runtime()
    options = (k, min_score, cadence, topic_quota, empty_notice, trending)
    budget = digest_settings(DigestSettings(), *options)  # checked before anything is written
    known = _known_topics() if topics.strip() else None
    from paperrec.papers.sources.arxiv_api import fetch_ids

    added = add_user(
        rt.store, name, email, topics, seed, known_topics=known,
        fetch=lambda ids: fetch_ids(ids, timeout=15, retries=0),
    )  # fmt: skip
    if any(option is not None for option in options):
        rt.store.users.set_digest_settings(added.user.name, budget)
    print_problems(added.problems)
    topics_text = ", ".join(added.user.topics) or "none"
    out.print(
        f"added user {added.user.name} <{added.user.email}>: {len(added.seeds)} seed paper(s) "
        f"({added.ingested.added} new to the store), topics: {topics_text}",
        highlight=False,
        soft_wrap=True,
    )
    if not added.seeds and not added.user.topics:
        console.print("[yellow]no seeds or topics yet:[/] recommendations start with feedback")
    out.print(f"digest: {_settings_text(budget)}", highlight=False, soft_wrap=True)


@command("set", group=user_app)
def user_set(
    name: Annotated[str, typer.Argument(help="user whose digest settings change")],
    k: DigestK = None,
    min_score: MinScore = None,
    cadence: CadenceOpt = None,
    topic_quota: TopicQuota = None,
    empty_notice: EmptyNotice = None,
    trending: TrendingOpt = None,
) -> None:
    """Change a user's digest budget; options not given keep their value. Prints the result."""
    store = runtime().store
    current = store.users.digest_settings(name)
    options = (k, min_score, cadence, topic_quota, empty_notice, trending)
    budget = digest_settings(current, *options)
    if budget != current:
        store.users.set_digest_settings(name, budget)
    out.print(f"{name} digest: {_settings_text(budget)}", highlight=False, soft_wrap=True)


@command("list", group=user_app)
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List users with their number of feedback events, shown papers and API keys."""
    from paperrec.users.profiles import list_users

    rows = list_users(runtime().store)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no users yet (paperrec user add NAME --email ADDR)")
        return
    table = new_table()
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
    from paperrec.store.files import check_output, write_output
    from paperrec.users.profiles import export_user

    check_output(output)
    data = export_user(runtime().store, name)
    if output is None or str(output) == "-":
        print_json(data)
        return
    write_output(output, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    console.print(f"exported user {name} to {output}", highlight=False)


@command("delete", group=user_app)
def user_delete(
    name: Annotated[str, typer.Argument(help="user to delete")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a user and all their feedback, shown papers and API keys."""
    from paperrec.users.profiles import delete_user

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
    list_keys: Annotated[
        bool, typer.Option("--list", help="list the keys (id, created, expires, last used)")
    ] = False,
    revoke: Annotated[
        int | None, typer.Option("--revoke", help="remove the key with this id (see --list)")
    ] = None,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="revoke all of the user's keys, make one new key, and invalidate every "
            "feedback link sent so far",
        ),
    ] = False,
    expires_in: Annotated[
        float | None, typer.Option("--expires-in", help="the new key expires after DAYS days")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored); or list, revoke or
    rotate keys."""
    if (name is None) == (not admin):
        raise InputError("give either a user NAME or --admin, not both or neither")
    actions = [list_keys, revoke is not None, rotate]
    if sum(actions) > 1:
        raise InputError("give at most one of --list, --revoke, --rotate")
    if rotate and admin:
        raise InputError("--rotate is per user; revoke admin keys one by one with --revoke ID")
    if expires_in is not None and (expires_in <= 0 or list_keys or revoke is not None):
        raise InputError("--expires-in DAYS (> 0) goes with a new key or --rotate")
    keys = runtime().store.keys
    owner = None if admin else name
    whose = "admin API key" if admin else f"API key for {name}"
    if list_keys:
        return _print_keys(keys.of(owner), whose)
    if revoke is not None:
        keys.revoke(owner, revoke)
        out.print(f"revoked {whose} {revoke}", highlight=False, soft_wrap=True)
        return
    expires = None
    if expires_in is not None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in)
    if rotate:
        key = keys.rotate(name, expires)
        note = "; every earlier key and feedback link of theirs no longer works"
    else:
        key, note = keys.create(owner, expires), ""
    until = f", valid until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    console.print(
        f"new {whose}{until}: store it now, it is not shown again{note}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(key, highlight=False, soft_wrap=True)


def _print_keys(keys, whose: str) -> None:
    if not keys:
        out.print(f"no {whose}s", highlight=False)
        return
    table = new_table()
    for column in ("id", "created", "expires", "last used"):
        table.add_column(column)
    for key in keys:
        expires = (key.expires_at or "never")[:16] + (" (expired)" if key.expired() else "")
        table.add_row(str(key.id), key.created_at[:16], expires, (key.last_used_at or "never")[:16])
    out.print(table)


@command("link", group=user_app)
def user_link(
    name: Annotated[str, typer.Argument(help="reader to sign in")],
) -> None:
    """Print a one-time link that signs NAME in to the web app (15 minutes; it needs the
    server's PAPERREC_TOKEN_SECRET and PAPERREC_PUBLIC_URL)."""
    from paperrec.users.signin import issue_link

    rt = runtime()
    rt.store.users.get(name)
    console.print(f"sign-in link for {name}, usable once within 15 minutes:", highlight=False)
    out.print(issue_link(rt.store, rt.settings, name), highlight=False, soft_wrap=True)


@command("feedback")
def feedback(
    name: Annotated[str, typer.Argument(help="user giving the feedback")],
    paper_id: Annotated[str, typer.Argument(help="arXiv id (any version), abs URL or paper id")],
    signal: Annotated[str, typer.Argument(help=" | ".join(s.value for s in FEEDBACK_SIGNALS))],
) -> None:
    """Record a user's feedback on a paper (stored with the time and source 'cli')."""
    from paperrec.users.profiles import record_feedback

    event = record_feedback(runtime().store, name, paper_id, signal, FeedbackSource.CLI)
    out.print(
        f"{event.user}: {event.signal.value} {event.paper_id} "
        f"({event.source.value}, {event.created_at.isoformat(timespec='seconds')})",
        highlight=False,
        soft_wrap=True,
    )
