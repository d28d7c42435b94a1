"""Signing in to the web app: one-time email links and API keys.

A sign-in link carries ``nonce.signature``: a random nonce and its HMAC under the server's
token secret (with a purpose prefix of its own, so no other token of paperrec verifies
here). A forged link fails the signature check before the store is asked; a genuine one is
consumed once (`paperrec.store.signin.SigninLinks`) and expires after `LINK_TTL`.
The email goes out through the digest's mailer.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

from paperrec.config import Settings
from paperrec.digest.mailer import send_email
from paperrec.errors import AuthError, PaperrecError
from paperrec.store import Store

LINK_TTL = dt.timedelta(minutes=15)
LINK_PATH = "/signin/link/{token}"
_DOMAIN = b"paperrec.signin-link.v1\x00"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}\.[A-Za-z0-9_-]{43}")


def _secret(secret: str | SecretStr | None) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    if not secret:
        raise PaperrecError(
            "no PAPERREC_TOKEN_SECRET on this server: sign-in links cannot be signed"
        )
    return secret.encode("utf-8")


def _signature(secret, nonce: str) -> str:
    digest = hmac.new(_secret(secret), _DOMAIN + nonce.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_link_token(secret, nonce: str) -> str:
    return f"{nonce}.{_signature(secret, nonce)}"


def verify_link_token(secret, token: str) -> str:
    """The nonce of a well-formed, genuinely signed token; AuthError otherwise."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise AuthError("this sign-in link is malformed; ask for a new one")
    nonce, _, signature = token.partition(".")
    if not hmac.compare_digest(_signature(secret, nonce), signature):
        raise AuthError("this sign-in link is not valid (its signature does not match)")
    return nonce


@dataclass(frozen=True)
class SentLink:
    user: str
    email: str
    url: str


def issue_link(
    store: Store, settings: Settings, user: str, *, now: dt.datetime | None = None
) -> str:
    """A new one-time sign-in URL for ``user`` (stored hashed), valid for `LINK_TTL`."""
    now = now or dt.datetime.now(dt.UTC)
    nonce = secrets.token_urlsafe(24)
    token = make_link_token(settings.token_secret, nonce)
    store.signin.issue(user, nonce, now + LINK_TTL)
    return settings.public_url.rstrip("/") + LINK_PATH.format(token=token)


def accounts_for(store: Store, who: str) -> list[tuple[str, str]]:
    """(name, email) of the account named ``who``, or of every account with that email."""
    who = who.strip()
    if not who:
        return []
    return [(u.name, u.email) for u in store.users.all() if who in (u.name, u.email)]


def send_link(store: Store, settings: Settings, who: str) -> list[SentLink]:
    """Email a sign-in link to each account ``who`` names (a user name or an email).

    Returns what was sent (empty when no account matches; the page says the same either
    way, so nobody learns which accounts exist). Raises NetworkError when SMTP fails.
    """
    sent = []
    for name, address in accounts_for(store, who):
        url = issue_link(store, settings, name)
        minutes = int(LINK_TTL.total_seconds() // 60)
        text = (
            f"Hello {name},\n\nopen this link to sign in to paperrec:\n\n{url}\n\n"
            f"It works once and expires in {minutes} minutes. If you did not ask for it, "
            "ignore this email.\n"
        )
        send_email(address, "paperrec: your sign-in link", text, settings)
        sent.append(SentLink(name, address, url))
    return sent


def redeem_link(store: Store, secret, token: str) -> str:
    """The user a sign-in link belongs to, consuming it; AuthError saying why not."""
    nonce = verify_link_token(secret, token)
    user = store.signin.consume(nonce)
    if user is None:
        state = store.signin.state(nonce)
        if state == "used":
            raise AuthError("this sign-in link was already used; ask for a new one")
        if state == "expired":
            raise AuthError(
                "this sign-in link has expired (links last 15 minutes); ask for a new one"
            )
        raise AuthError("this sign-in link is unknown; ask for a new one")
    return user


def key_account(store: Store, key: str) -> tuple[bool, str | None]:
    """(is_admin, user name) of an API key; AuthError for an unknown one."""
    key = (key or "").strip()
    owner = store.keys.owner(key) if key else None
    if owner is None:
        raise AuthError("unknown API key")
    return owner
