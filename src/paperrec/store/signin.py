"""One-time sign-in links: issued for a user, consumed once, expiring.

Only a SHA-256 hash of each link's secret part is stored; consuming a link is one
compare-and-set ``UPDATE`` (unused and not expired -> used), so two clicks racing cannot
both sign in.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine, delete, select, update

from paperrec.store.db import signin_links, users


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


class SigninLinks:
    """Reads and writes the signin_links table."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def issue(self, user: str, nonce: str, expires: dt.datetime) -> None:
        """Record ``nonce`` as an unused link for ``user`` until ``expires``; expired rows
        of every user are cleared on the way."""
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.name == user)).scalar_one()
            conn.execute(delete(signin_links).where(signin_links.c.expires_at < _stamp(now)))
            conn.execute(
                signin_links.insert().values(
                    token_hash=_hash(nonce), user_id=user_id, created_at=_stamp(now),
                    expires_at=_stamp(expires),
                )
            )  # fmt: skip

    def consume(self, nonce: str, now: dt.datetime | None = None) -> str | None:
        """The user of an unused, unexpired link, which is now used; None otherwise."""
        now = now or dt.datetime.now(dt.UTC)
        token_hash = _hash(nonce)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(signin_links)
                .where(
                    signin_links.c.token_hash == token_hash,
                    signin_links.c.used_at.is_(None),
                    signin_links.c.expires_at > _stamp(now),
                )
                .values(used_at=_stamp(now))
            )
            if done.rowcount != 1:
                return None
            return conn.execute(
                select(users.c.name)
                .select_from(signin_links.join(users, users.c.id == signin_links.c.user_id))
                .where(signin_links.c.token_hash == token_hash)
            ).scalar_one()

    def state(self, nonce: str) -> str:
        """Why a link did not work: ``unknown``, ``used`` or ``expired`` (or ``usable``)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(signin_links).where(signin_links.c.token_hash == _hash(nonce))
            ).first()
        if row is None:
            return "unknown"
        if row.used_at is not None:
            return "used"
        if row.expires_at <= _stamp(dt.datetime.now(dt.UTC)):
            return "expired"
        return "usable"
