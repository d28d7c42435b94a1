"""Who is signed in, and proof that a form came from our own page.

The session is a cookie holding a signed, timestamped JSON payload (itsdangerous, keyed by
the server's token secret under a purpose of its own): the reader's name (or the admin
flag), and a random CSRF token that every form and every script request sends back.
Visitors who are not signed in get a session too, so the sign-in forms are protected
alike. The cookie is HttpOnly, SameSite=Lax, and Secure when the public URL is https.
`RateLimit` counts sign-in attempts per client address and per account, in memory.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr

COOKIE = "paperrec_session"
MAX_AGE = 30 * 24 * 3600  # seconds a session lasts
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """``user``: the signed-in reader (None for a visitor or an admin key without a user);
    ``admin``: signed in with an admin key; ``csrf``: the token forms must carry."""

    csrf: str
    user: str | None = None
    admin: bool = False

    @property
    def signed_in(self) -> bool:
        return self.user is not None or self.admin

    def checks(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


def new_session(user: str | None = None, admin: bool = False) -> Session:
    """A fresh session (a new CSRF token: signing in or out never keeps the old one)."""
    return Session(secrets.token_urlsafe(24), user, admin)


class Sessions:
    """Reads and writes the session cookie.

    Parameters
    ----------
    secret
        The server's token secret (PAPERREC_TOKEN_SECRET).
    secure
        Mark the cookie Secure (the public URL is https).
    """

    def __init__(self, secret: str | SecretStr, secure: bool):
        if isinstance(secret, SecretStr):
            secret = secret.get_secret_value()
        self._serializer = URLSafeTimedSerializer(secret, salt="paperrec.web-session.v1")
        self.secure = secure

    def load(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``; None when absent, forged or older than `MAX_AGE`."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_AGE)
        except (BadSignature, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        user = data.get("u")
        return Session(data["c"], user if isinstance(user, str) else None, data.get("a") is True)

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"c": session.csrf, "u": session.user, "a": session.admin})

    def cookie_options(self) -> dict:
        return {
            "key": COOKIE, "max_age": MAX_AGE, "httponly": True, "samesite": "lax",
            "secure": self.secure, "path": "/",
        }  # fmt: skip


class RateLimit:
    """At most ``limit`` events per key within ``seconds``; thread-safe, in memory."""

    def __init__(self, limit: int, seconds: float):
        self.limit = limit
        self.seconds = seconds
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, *keys: str, now: float | None = None) -> bool:
        """Count one event under every key; False (nothing counted) if any key is full."""
        now = time.monotonic() if now is None else now
        with self._lock:
            queues = [self._events.setdefault(key, deque()) for key in keys]
            for queue in queues:
                while queue and queue[0] <= now - self.seconds:
                    queue.popleft()
            if any(len(queue) >= self.limit for queue in queues):
                return False
            for queue in queues:
                queue.append(now)
            if len(self._events) > 10_000:  # forget idle keys
                self._events = {k: q for k, q in self._events.items() if q}
            return True
