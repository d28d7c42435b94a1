"""A user's digest, rendered: the email (HTML + plain text), an HTML page, Markdown, JSON.

Pure: no network, no store, no disk beyond reading the packaged templates
(``paperrec/digest/templates/``). `render_email` and `render` turn `DigestContent`
(`paperrec.digest.content`) into text; sending it is `paperrec.digest.mailer`'s job.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache

import jinja2

from paperrec.digest.content import DigestContent
from paperrec.errors import InputError, unknown_choice

FORMATS = ("email", "html", "markdown", "json")
SHOWN_AUTHORS = 6


@dataclass(frozen=True)
class Digest:
    """One user's rendered email: who it goes to, its subject and both bodies.

    ``paper_ids`` are the store ids of the papers in it, best first: what to mark as shown
    once the email is actually sent. ``kind`` is ``digest`` or ``notice`` (no papers).
    """

    user: str
    email: str
    subject: str
    html: str
    text: str
    paper_ids: tuple[str, ...]
    kind: str = "digest"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("paperrec.digest", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["authors"] = _authors
    env.filters["md"] = _markdown_escape
    return env


def _authors(authors: Sequence[str]) -> str:
    if len(authors) <= SHOWN_AUTHORS:
        return ", ".join(authors)
    return ", ".join(authors[: SHOWN_AUTHORS - 1]) + f" et al. ({len(authors)} authors)"


def _markdown_escape(text: str) -> str:
    """Text safe inside Markdown: characters that would start markup are escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>#|~" else ch for ch in text)


def _context(content: DigestContent, page: bool) -> dict:
    unsubscribe = f"paperrec user delete {shlex.quote(content.user)}"
    where = content.public_url or "this paperrec server"
    return {
        "c": content,
        "page": page,
        "subject": content.subject,
        "day": f"{content.date:%A}, {content.date.day} {content.date:%B %Y}",
        "why": (
            f"You get this email because {content.email} is subscribed to paperrec digests as "
            f"user '{content.user}' on {where}. To stop them, ask the administrator to remove "
            f"you ({unsubscribe})."
        ),
        "topics_note": (
            "Topic tags show the classifier's probability and, after ≥, the threshold at "
            "which that topic is labelled."
        ),
        "links_note": (
            "The feedback links vote as you, without a login, until "
            f"{content.links_expire.isoformat() if content.links_expire else 'they expire'}; "
            f"do not forward this {'page' if page else 'email'}."
        ),
    }


def render_email(content: DigestContent) -> Digest:
    """The email: HTML (inline CSS, dark-mode aware) and plain-text bodies."""
    env = _environment()
    context = _context(content, page=False)
    return Digest(
        user=content.user,
        email=content.email,
        subject=content.subject,
        html=env.get_template("digest.html").render(context),
        text=env.get_template("digest.txt").render(context),
        paper_ids=tuple(item.id for item in content.items),
        kind=content.kind,
    )


def as_json(content: DigestContent) -> dict:
    """The digest as JSON-ready data (dates as ISO strings)."""
    data = asdict(content)
    data.update(kind=content.kind, subject=content.subject, date=content.date.isoformat())
    data["since"] = content.since.isoformat() if content.since else None
    data["links_expire"] = content.links_expire.isoformat() if content.links_expire else None
    for item in data["items"]:
        item["topics"] = [tag._asdict() for tag in item["topics"]]
        item["feedback"] = {link["signal"]: link["url"] for link in item.pop("links")}
    return data


def render(content: DigestContent, fmt: str) -> str:
    """``content`` as ``html`` (a standalone page), ``markdown``, ``json`` or ``email``
    (the plain-text body; the whole message is `render_email`)."""
    if fmt not in FORMATS:
        raise InputError(unknown_choice("digest format", fmt, FORMATS))
    env = _environment()
    if fmt == "json":
        return json.dumps(as_json(content), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return env.get_template("digest.html").render(_context(content, page=True))
    if fmt == "markdown":
        return env.get_template("digest.md").render(_context(content, page=True))
    return env.get_template("digest.txt").render(_context(content, page=False))
