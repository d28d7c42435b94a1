"""API keys: stored as SHA-256 hashes only (the plaintext is shown once, when a key is
created), each acting for one user or, without one, as an admin key; expiry, last use,
revocation, and rotation (which also advances the user's token generation, so every
feedback link sent so far stops working)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from paperrec.errors import NotFoundError
from paperrec.store.db import api_keys, users
from paperrec.store.users import UserStore

KEY_PREFIX = "prk_"
LAST_USED_EVERY = dt.timedelta(minutes=1)  # how stale an API key's last_used_at may be


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (never the key itself): who it acts for and when it was used."""

    id: int
    user: str | None  # None: an admin key
    created_at: str
    expires_at: str | None
    last_used_at: str | None

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= _stamp(now or _now())

    def as_dict(self) -> dict:
        return {
            "id": self.id, "user": self.user, "admin": self.user is None,
            "created_at": self.created_at, "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
        }  # fmt: skip


class KeyStore:
    """Reads and writes the api_keys table; users are named, and looked up in ``users``."""

    def __init__(self, engine: Engine, users: UserStore):
        self.engine = engine
        self.users = users

    def create(self, name: str | None, expires_at: dt.datetime | None = None) -> str:
        """A new API key for user ``name`` (None: an admin key), valid until ``expires_at``
        (None: until revoked). Returns the plaintext once; only its hash is stored."""
        user_id = self.users.get(name).id if name is not None else None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    user_id=user_id,
                    key_hash=hash_key(key),
                    created_at=_now().isoformat(),
                    expires_at=_stamp(expires_at) if expires_at else None,
                )  # fmt: skip
            )
        return key

    def of(self, name: str | None) -> list[ApiKey]:
        """The keys of user ``name``, or the admin keys (None), oldest first."""
        query = select(api_keys).order_by(api_keys.c.id)
        if name is None:
            query = query.where(api_keys.c.user_id.is_(None))
        else:
            query = query.where(api_keys.c.user_id == self.users.get(name).id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ApiKey(r.id, name, r.created_at, r.expires_at, r.last_used_at) for r in rows]

    def revoke(self, name: str | None, key_id: int) -> None:
        """Remove key ``key_id`` of user ``name`` (None: an admin key); NotFoundError if
        there is no such key (listing the ones there are)."""
        user_id = self.users.get(name).id if name is not None else None
        owner = api_keys.c.user_id.is_(None) if user_id is None else api_keys.c.user_id == user_id
        with self.engine.begin() as conn:
            removed = conn.execute(delete(api_keys).where(api_keys.c.id == key_id, owner)).rowcount
        if not removed:
            whose = "admin keys" if name is None else f"keys of {name}"
            ids = [str(k.id) for k in self.of(name)] or ["none"]
            listed = ", ".join(ids)
            raise NotFoundError(f"no API key {key_id} among the {whose}; there are: {listed}")

    def rotate(self, name: str, expires_at: dt.datetime | None = None) -> str:
        """Revoke all of ``name``'s keys, advance their token generation (every feedback
        link sent so far stops working) and return one new key, in one transaction."""
        user = self.users.get(name)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(delete(api_keys).where(api_keys.c.user_id == user.id))
            conn.execute(
                users.update().where(users.c.id == user.id)
                .values(token_generation=users.c.token_generation + 1)
            )  # fmt: skip
            conn.execute(
                api_keys.insert().values(
                    user_id=user.id,
                    key_hash=hash_key(key),
                    created_at=_now().isoformat(),
                    expires_at=_stamp(expires_at) if expires_at else None,
                )  # fmt: skip
            )
        return key

    def owner(self, key: str) -> tuple[bool, str | None] | None:
        """For a valid, unexpired key: (is_admin, user name or None). None for an unknown or
        expired key. Records when the key was last used (at most once a minute)."""
        now = _now()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.id, api_keys.c.user_id, api_keys.c.expires_at,
                       api_keys.c.last_used_at, users.c.name)
                .select_from(api_keys.outerjoin(users, users.c.id == api_keys.c.user_id))
                .where(api_keys.c.key_hash == hash_key(key))
            ).first()  # fmt: skip
        if row is None or (row.expires_at is not None and row.expires_at <= _stamp(now)):
            return None
        if row.last_used_at is None or row.last_used_at < _stamp(now - LAST_USED_EVERY):
            with self.engine.begin() as conn:
                conn.execute(
                    api_keys.update().where(api_keys.c.id == row.id)
                    .values(last_used_at=_stamp(now))
                )  # fmt: skip
        return (row.user_id is None, row.name)
