"""The daily digest email, rendered: HTML and plain text from one list of ranked papers.

Pure: no network, no store, no disk beyond reading the packaged templates
(``paperrec/templates/digest.html`` and ``digest.txt``). The papers come from
`paperrec.engine.Engine.recommend`; sending is `paperrec.mailer`'s job.

Every paper carries one feedback link per signal (up, down, saved, dismissed). A link is
``{public_url}`` + `FEEDBACK_PATH` with a token from `paperrec.tokens.make_token` that says
who votes what on which paper and until when, so a click needs no login.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

import jinja2

from paperrec.errors import InputError
from paperrec.profiles import FEEDBACK_SIGNALS
from paperrec.recommend.rank import RankedPaper
from paperrec.schema import Signal, split_arxiv_id
from paperrec.tokens import DEFAULT_TTL, make_token

# Where the service takes a click (service/service.py mounts the links app at /feedback and
# answers GET /{token}); the only place the path is spelled out.
FEEDBACK_PATH = "/feedback/{token}"
LINK_TTL = DEFAULT_TTL
SIGNAL_LABELS = {
    Signal.UP: "More like this",
    Signal.DOWN: "Less like this",
    Signal.SAVED: "Save",
    Signal.DISMISSED: "Dismiss",
}


@dataclass(frozen=True)
class Digest:
    """One user's rendered email: who it goes to, its subject and both bodies.

    ``paper_ids`` are the store ids of the papers in it, best first: what to mark as shown
    once the email is actually sent.
    """

    user: str
    email: str
    subject: str
    html: str
    text: str
    paper_ids: tuple[str, ...]


def arxiv_url(paper_id: str) -> str | None:
    """``https://arxiv.org/abs/<id>`` when ``paper_id`` is an arXiv id, else None."""
    parsed = split_arxiv_id(paper_id)
    return f"https://arxiv.org/abs/{parsed[0]}" if parsed else None


def feedback_url(public_url: str, token: str) -> str:
    """The link a click on ``token`` goes to."""
    return public_url.rstrip("/") + FEEDBACK_PATH.format(token=quote(token, safe=""))


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("paperrec", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _item(paper: RankedPaper, user: str, secret, public_url: str, ttl, now: float) -> dict:
    links = []
    for signal in FEEDBACK_SIGNALS:
        token = make_token(secret, user, paper.id, signal, ttl, now=now)
        url = feedback_url(public_url, token)
        links.append({"signal": signal.value, "label": SIGNAL_LABELS[signal], "url": url})
    return {
        "id": paper.id,
        "title": paper.title or paper.id,
        "url": arxiv_url(paper.id),
        "rank": paper.rank,
        "score": paper.score,
        "reasons": [r["text"] for r in paper.reasons if r.get("text")],
        "links": links,
    }


def render_digest(
    user: str,
    email: str,
    ranked: Sequence[RankedPaper],
    *,
    secret,
    public_url: str,
    date: dt.date | None = None,
    ttl: dt.timedelta = LINK_TTL,
    now: float | None = None,
) -> Digest:
    """Render ``user``'s digest of ``ranked`` papers (best first, as `recommend` returns them).

    Parameters
    ----------
    user, email
        Who the digest is for; the links vote as ``user``.
    ranked
        The papers, best first; at least one.
    secret
        The feedback-token secret (``Settings.token_secret``); None raises a readable error.
    public_url
        Base URL of the service that takes the clicks (``Settings.public_url``).
    date
        The last day of the papers' window, shown in the subject.
    ttl, now
        How long the links stay valid, counted from ``now`` (Unix time; default: the clock).
    """
    if not ranked:
        raise InputError(f"no papers to put in {user}'s digest")
    issued = time.time() if now is None else now
    items = [_item(p, user, secret, public_url, ttl, issued) for p in ranked]
    expires = dt.datetime.fromtimestamp(issued + ttl.total_seconds(), dt.UTC).date()
    count = f"{len(items)} new paper{'s' if len(items) != 1 else ''}"
    subject = f"paperrec: {count} for you" + (f" ({date.isoformat()})" if date else "")
    context = {
        "subject": subject,
        "heading": f"{count} picked for {user}" + (f", up to {date.isoformat()}" if date else ""),
        "items": items,
        "why": (
            f"You get this email because {email} is subscribed to paperrec digests as user "
            f"'{user}' on {public_url.rstrip('/')}. To stop them, ask the administrator to "
            f"remove you (paperrec user delete {shlex.quote(user)})."
        ),
        "links_note": (
            f"The feedback links vote as you, without a login, until {expires.isoformat()}; "
            "do not forward this email."
        ),
    }
    env = _environment()
    return Digest(
        user=user,
        email=email,
        subject=subject,
        html=env.get_template("digest.html").render(context),
        text=env.get_template("digest.txt").render(context),
        paper_ids=tuple(p.id for p in ranked),
    )
