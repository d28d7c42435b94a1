"""Digest feedback links: a GET only asks, a POST votes.

Mail scanners and link previewers fetch every URL of a message; if a fetch voted, one
scan of a digest would record every signal on every paper. So ``GET /feedback/{token}``
checks the signed token and answers a small page saying what the link would record, with
one button; the button POSTs to the same URL and only that POST stores the vote. The
token in the URL is the whole authorisation (it names one user, one paper, one signal and
an expiry, signed with the server secret), so the POST needs no other CSRF token: a page
that could forge the POST would need the token, and with it could only cast that one vote.

The pages are plain HTML built here, with no assets; restyle them here.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from paperrec.errors import AuthError, ForbiddenError, NotFoundError
from paperrec.schema import FeedbackEvent, FeedbackSource, Signal
from paperrec.store import Store
from paperrec.users.profiles import record_feedback
from paperrec.users.tokens import verify_token

LABELS = {
    Signal.UP: "👍 More like this",
    Signal.DOWN: "👎 Less like this",
    Signal.SAVED: "🔖 Save for later",
    Signal.DISMISSED: "✕ Not interested",
}


@dataclass(frozen=True)
class Click:
    """What a verified link would record: whose vote, on which stored paper, which signal."""

    user: str
    paper_id: str
    title: str
    signal: Signal


def check_click(store: Store, secret, token: str) -> Click:
    """Verify ``token`` and find its user and paper, recording nothing.

    Raises
    ------
    ForbiddenError
        Malformed, forged, expired or revoked token.
    NotFoundError
        The user or the paper of the token is gone (no other user is named).
    PaperrecError
        No token secret configured on this server.
    """
    try:
        claim = verify_token(secret, token, now=time.time())
    except AuthError as exc:
        raise ForbiddenError(str(exc)) from None
    user = store.users.by_uid(claim.user_uid)
    if user is None:
        raise NotFoundError("the user of this link no longer exists")
    if claim.generation != user.token_generation:
        raise ForbiddenError(
            "this link was revoked (the user's keys were rotated); use a link from a newer digest"
        )
    resolved = store.papers.resolve_ids([claim.paper_id])
    if claim.paper_id not in resolved:
        raise NotFoundError(f"paper {claim.paper_id!r} is no longer stored")
    papers = store.papers.get_many([resolved[claim.paper_id]])
    title = papers[0].title if papers else claim.paper_id
    return Click(user.name, resolved[claim.paper_id], title, claim.signal)


def record_click(store: Store, secret, token: str) -> FeedbackEvent:
    """Store the vote a link carries (source ``digest``); the same checks as `check_click`."""
    click = check_click(store, secret, token)
    return record_feedback(store, click.user, click.paper_id, click.signal, FeedbackSource.DIGEST)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.2rem;cursor:pointer}}</style>
</head><body>
{body}
</body></html>
"""


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=html.escape(title), body=body)


def confirmation_page(click: Click) -> str:
    """The page a GET answers: what the button would record, and the button (a POST)."""
    label = LABELS[click.signal]
    body = (
        f"<h1>{html.escape(label)}?</h1>\n"
        f"<p>For <strong>{html.escape(click.user)}</strong> on “{html.escape(click.title)}” "
        f"({html.escape(click.paper_id)}).</p>\n"
        '<form method="post"><button type="submit">Record it</button></form>\n'
        "<p>Nothing is recorded until you press the button.</p>"
    )
    return _page(f"{label}? · paperrec", body)


def recorded_page(event: FeedbackEvent) -> str:
    """The page a POST answers once the vote is stored."""
    label = LABELS[event.signal]
    body = (
        f"<h1>Recorded: {html.escape(label)}</h1>\n"
        f"<p>For <strong>{html.escape(event.user)}</strong> on {html.escape(event.paper_id)}. "
        "Thank you; your next digest takes it into account.</p>"
    )
    return _page("Recorded · paperrec", body)


def error_page(message: str) -> str:
    """The page for a link that cannot be used (forged, expired, revoked, gone)."""
    body = f"<h1>This link cannot be used</h1>\n<p>{html.escape(message)}</p>"
    return _page("Link cannot be used · paperrec", body)
