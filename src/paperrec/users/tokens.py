"""Who may act for a user: signed feedback-link tokens and API-key checks.

A digest link carries a token saying "the user with immutable id U, at token generation G,
gives signal S on paper P, valid until T", signed with HMAC-SHA256 under a server secret
(``PAPERREC_TOKEN_SECRET``, at least 32 bytes), so a click works without logging in and
nobody without the secret can change the user, paper, signal or expiry. A token is
URL-safe: ``base64url(payload JSON) "." base64url(signature)``, unpadded. A token can be
replayed until it expires; replaying it only repeats the same vote.

The user is named by ``User.uid``, a random id given at creation and never reused, not by
the name: after ``user delete x`` and a new ``user add x`` an old link of the first x
matches nobody. ``G`` is the user's token generation, which a key rotation advances; the
server refuses a link of an older generation (see `paperrec.serving.links`).

API keys (per user or admin) are stored hashed by `paperrec.store.UserStore`; `authorize`
decides whether a bearer key may act for a given user.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from typing import NamedTuple

from pydantic import SecretStr

from paperrec.errors import AuthError, PaperrecError
from paperrec.schema import Signal
from paperrec.store import Store
from paperrec.users.profiles import parse_signal

DEFAULT_TTL = dt.timedelta(days=30)
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 4096  # far above any real token; bounds the work done on junk input
# Prefixed to every signed message so a signature made for anything else never verifies here.
_DOMAIN = b"paperrec.feedback-token.v2\x00"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_FIELDS = {"u": str, "g": int, "p": str, "s": str, "e": int}
_HOW_TO_SET = (
    "set PAPERREC_TOKEN_SECRET to a long random string, for example the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


class Claim(NamedTuple):
    """What a verified token says: whose vote (``User.uid``), on which paper, which signal,
    and the user's token generation when it was made."""

    user_uid: str
    paper_id: str
    signal: Signal
    generation: int = 0


def check_secret(secret: str | bytes | SecretStr | None) -> None:
    """Raise PaperrecError, saying why and how to fix it, unless ``secret`` is usable."""
    _key(secret)


def _key(secret: str | bytes | SecretStr | None) -> bytes:
    """The HMAC key; a clear error when the secret is unset or too short to be safe."""
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    if secret is None or secret in ("", b""):
        raise PaperrecError(f"no feedback-token secret: {_HOW_TO_SET}")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise PaperrecError(
            f"feedback-token secret is {len(key)} bytes; at least {MIN_SECRET_BYTES} "
            f"are needed: {_HOW_TO_SET}"
        )
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict unpadded base64url: only its alphabet, and only the canonical encoding."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Two strings can decode to the same bytes (unused low bits of the last character);
    # accepting only the canonical one means any edit to a token makes it invalid.
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest()


def _ttl_seconds(ttl: dt.timedelta | float) -> float:
    seconds = ttl.total_seconds() if isinstance(ttl, dt.timedelta) else float(ttl)
    if not seconds > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return seconds


def make_token(
    secret: str | bytes | SecretStr | None,
    user: str,
    paper_id: str,
    signal: Signal | str,
    ttl: dt.timedelta | float = DEFAULT_TTL,
    *,
    generation: int = 0,
    now: float | None = None,
) -> str:
    """A signed, expiring, URL-safe token for one feedback click.

    Parameters
    ----------
    secret
        The server secret, e.g. ``Settings.token_secret``; None raises a readable error.
    user, paper_id
        Who votes (the user's immutable ``User.uid``), on which paper (the store's id).
    signal
        One of up, down, saved, dismissed.
    ttl
        How long the link stays valid: a timedelta or seconds.
    generation
        The user's ``token_generation`` now; a later rotation makes the token stale.
    now
        Unix time to sign at; the current time by default (tests pass their own).
    """
    key = _key(secret)
    parsed = parse_signal(signal)
    if not user or not paper_id:
        raise ValueError("user and paper_id must be non-empty")
    issued = time.time() if now is None else now
    payload = {
        "u": user, "g": int(generation), "p": paper_id, "s": parsed.value,
        "e": int(issued + _ttl_seconds(ttl)),
    }  # fmt: skip
    body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{body}.{_b64encode(_sign(key, body))}"


def _payload(body: str) -> dict:
    data = json.loads(_b64decode(body).decode("utf-8"))
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        raise ValueError("unexpected fields")
    for name, kind in _FIELDS.items():
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            raise ValueError(f"field {name} has the wrong type")
    return data


def verify_token(
    secret: str | bytes | SecretStr | None, token: str, now: float | None = None
) -> Claim:
    """Check a token made by `make_token`; returns its `Claim` (user uid, paper, signal,
    generation). Whether that user still exists at that generation is the caller's check.

    Raises
    ------
    AuthError
        Malformed token, signature that does not match (any field changed, or another
        secret), or an expired token.
    """
    key = _key(secret)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthError("malformed feedback token")
    body, dot, signature = token.strip().partition(".")
    try:
        given = _b64decode(signature) if dot else b""
    except (ValueError, binascii.Error):
        given = b""
    # Signature first, in constant time: nothing from an unsigned payload is trusted.
    if not given or not hmac.compare_digest(_sign(key, body), given):
        if not dot or not _B64URL.fullmatch(body):
            raise AuthError("malformed feedback token")
        raise AuthError("invalid feedback token: signature does not match")
    try:
        data = _payload(body)
        signal = parse_signal(data["s"])
    except (ValueError, UnicodeDecodeError, binascii.Error, PaperrecError):
        raise AuthError("malformed feedback token") from None
    current = time.time() if now is None else now
    if current >= data["e"]:
        expired = dt.datetime.fromtimestamp(data["e"], dt.UTC).isoformat(timespec="seconds")
        raise AuthError(f"feedback token expired at {expired}; use a link from a newer digest")
    return Claim(data["u"], data["p"], signal, data["g"])


def authorize(store: Store, bearer_token: str | None, user: str) -> None:
    """Allow the call only if ``bearer_token`` is an admin key or a key of ``user``.

    ``bearer_token`` is the key itself or a whole ``Authorization`` header value
    (``Bearer <key>``).

    Raises
    ------
    AuthError
        Missing or unknown key, or a key that belongs to another user.
    """
    key = (bearer_token or "").strip()
    if key[:7].lower() == "bearer ":
        key = key[7:].strip()
    if not key:
        raise AuthError("missing API key; send it as 'Authorization: Bearer <key>'")
    owner = store.keys.owner(key)
    if owner is None:
        raise AuthError("unknown API key (or revoked, or expired)")
    is_admin, name = owner
    if not is_admin and name != user:
        raise AuthError(
            f"this API key does not belong to user {user!r}; use their key or an admin key"
        )
