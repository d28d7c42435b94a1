"""Who may act on the HTTP service: `authorize_key` and `authorize_admin` put the API-key
rules of `paperrec.users.tokens` behind the two errors the service tells apart: 401 (no
valid key) and 403 (a valid key or link that may not do this)."""

from __future__ import annotations

from paperrec.errors import AuthError, ForbiddenError
from paperrec.store import Store
from paperrec.users.tokens import authorize


def authorize_key(store: Store, key: str | None, user: str) -> None:
    """Allow an admin key or a key of ``user``.

    Raises
    ------
    AuthError
        Missing or unknown key (the caller is not authenticated).
    ForbiddenError
        A valid key of another user.
    """
    try:
        authorize(store, key, user)
    except AuthError as exc:
        if key and store.keys.owner(key.strip()) is not None:
            raise ForbiddenError(str(exc)) from None
        raise


def authorize_admin(store: Store, key: str | None) -> None:
    """Allow an admin key only; AuthError without a valid key, ForbiddenError for a user's."""
    owner = store.keys.owner(key.strip()) if key and key.strip() else None
    if owner is None:
        authorize(store, key, "")  # raises the same missing / unknown key errors as elsewhere
    elif not owner[0]:
        raise ForbiddenError("this needs an admin API key (paperrec user key --admin)")
