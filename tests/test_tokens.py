"""Feedback-link tokens and API-key authorization: paperrec.users.tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from paperrec.config import Settings
from paperrec.errors import AuthError, InputError, NotFoundError, PaperrecError
from paperrec.schema import Signal
from paperrec.users.profiles import add_user, delete_user
from paperrec.users.tokens import authorize, make_token, verify_token

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL

SECRET = "test-secret-0123456789abcdef-0123456789"
NOW = 1_750_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token(**kwargs) -> str:
    args = {"user": "ada", "paper_id": "2401.00001", "signal": "up", "ttl": 3600, "now": NOW}
    return make_token(SECRET, **(args | kwargs))


# -- feedback tokens ----------------------------------------------------------------------
@pytest.mark.parametrize("signal", ["up", "down", "saved", "dismissed", Signal.SAVED])
def test_round_trip(signal):
    made = token(signal=signal)
    assert verify_token(SECRET, made, now=NOW + 10) == ("ada", "2401.00001", Signal(signal), 0)


def test_token_is_url_safe_and_accepts_timedelta_and_unicode():
    made = token(user="zoë/ü?&=", ttl=dt.timedelta(days=2))
    assert all(c.isalnum() or c in "-_." for c in made)
    assert verify_token(SECRET, made, now=NOW + 86_400)[0] == "zoë/ü?&="


@pytest.mark.parametrize(
    "field, value",
    [("u", "bob"), ("g", 7), ("p", "2401.99999"), ("s", "down"), ("e", int(NOW) + 10**9)],
)
def test_tampering_with_any_field_is_refused(field, value):
    body, signature = token().split(".")
    payload = json.loads(unb64(body))
    payload[field] = value
    body = b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    forged = f"{body}.{signature}"
    with pytest.raises(AuthError, match="signature does not match"):
        verify_token(SECRET, forged, now=NOW)


def test_tampering_with_any_character_is_refused():
    made = token()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(made):
        if char == ".":
            continue
        changed = made[:i] + alphabet[(alphabet.index(char) + 1) % 64] + made[i + 1 :]
        with pytest.raises(AuthError):
            verify_token(SECRET, changed, now=NOW)


def test_expired_token_is_refused():
    made = token(ttl=60)
    assert verify_token(SECRET, made, now=NOW + 59)[0] == "ada"
    with pytest.raises(AuthError, match="expired at 2025-06-15T15:0"):
        verify_token(SECRET, made, now=NOW + 60)


def test_wrong_secret_is_refused():
    with pytest.raises(AuthError, match="signature does not match"):
        verify_token("another-secret-0123456789-0123456789", token(), now=NOW)


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "a.b.c", "!!!.###", ".", "x.", token() + "\n.x", "é" * 10, "A" * 10_000, None, 42],
)
def test_malformed_tokens_are_refused(bad):
    with pytest.raises(AuthError):
        verify_token(SECRET, bad, now=NOW)


def test_signed_payload_of_the_wrong_shape_is_malformed():
    import hashlib
    import hmac

    from paperrec.users.tokens import _DOMAIN

    body = b64(json.dumps({"u": "ada", "g": 0, "p": "x", "s": "up", "e": "tomorrow"}).encode())
    sig = hmac.new(SECRET.encode(), _DOMAIN + body.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError, match="malformed"):
        verify_token(SECRET, f"{body}.{b64(sig)}", now=NOW)


def test_missing_or_short_secret_says_how_to_set_it(monkeypatch, home):
    monkeypatch.delenv("PAPERREC_TOKEN_SECRET", raising=False)
    with pytest.raises(PaperrecError, match="PAPERREC_TOKEN_SECRET"):
        make_token(Settings().token_secret, "ada", "2401.00001", "up")
    with pytest.raises(PaperrecError, match="at least 32"):
        make_token("short", "ada", "2401.00001", "up")
    with pytest.raises(PaperrecError, match="is 31 bytes; at least 32"):
        make_token("x" * 31, "ada", "2401.00001", "up")
    with pytest.raises(PaperrecError, match="PAPERREC_TOKEN_SECRET"):
        verify_token(None, token())


def test_secret_from_the_environment(monkeypatch, home):
    monkeypatch.setenv("PAPERREC_TOKEN_SECRET", SECRET)
    secret = Settings().token_secret
    made = make_token(secret, "ada", "2401.00001", "down", 60, now=NOW)
    assert verify_token(SECRET, made, now=NOW)[:3] == ("ada", "2401.00001", Signal.DOWN)


def test_make_token_checks_its_arguments():
    with pytest.raises(InputError, match="available: up, down, saved, dismissed"):
        token(signal="seed")
    with pytest.raises(ValueError, match="ttl must be positive"):
        token(ttl=0)
    with pytest.raises(ValueError, match="non-empty"):
        token(user="")


# -- API keys -----------------------------------------------------------------------------
@pytest.fixture()
def keyed(store):
    add_user(store, "ada", "ada@example.org")
    add_user(store, "bob", "bob@example.org")
    keys = {
        "admin": store.keys.create(None),
        "ada": store.keys.create("ada"),
        "bob": store.keys.create("bob"),
    }
    return store, keys


def test_admin_key_acts_for_everyone(keyed):
    store, keys = keyed
    authorize(store, keys["admin"], "ada")
    authorize(store, f"Bearer {keys['admin']}", "bob")


def test_own_key_is_accepted(keyed):
    store, keys = keyed
    authorize(store, keys["ada"], "ada")
    authorize(store, f"bearer  {keys['ada']} ", "ada")


def test_other_users_key_is_refused(keyed):
    store, keys = keyed
    with pytest.raises(AuthError, match="does not belong to user 'ada'"):
        authorize(store, keys["bob"], "ada")


@pytest.mark.parametrize("bad", ["prk_not-a-real-key", "Bearer nope", "", "Bearer ", None])
def test_unknown_or_missing_key_is_refused(keyed, bad):
    store, _ = keyed
    with pytest.raises(AuthError, match="unknown API key|missing API key"):
        authorize(store, bad, "ada")


def test_keys_of_a_deleted_user_stop_working(keyed):
    store, keys = keyed
    delete_user(store, "ada")
    with pytest.raises(AuthError, match="unknown API key"):
        authorize(store, keys["ada"], "ada")
    authorize(store, keys["admin"], "bob")


# -- revoking, rotating and expiring keys (issue 13, item 6) -------------------------------
def test_a_revoked_key_stops_working_and_the_others_do_not(keyed):
    store, keys = keyed
    second = store.keys.create("ada")
    first_id = store.keys.of("ada")[0].id
    store.keys.revoke("ada", first_id)
    with pytest.raises(AuthError, match="unknown API key"):
        authorize(store, keys["ada"], "ada")
    authorize(store, second, "ada")
    with pytest.raises(NotFoundError, match=f"no API key {first_id} among the keys of ada"):
        store.keys.revoke("ada", first_id)


def test_an_admin_key_is_revoked_only_as_an_admin_key(keyed):
    store, keys = keyed
    admin_id = store.keys.of(None)[0].id
    with pytest.raises(NotFoundError):
        store.keys.revoke("ada", admin_id)  # not one of ada's keys
    store.keys.revoke(None, admin_id)
    with pytest.raises(AuthError, match="unknown API key"):
        authorize(store, keys["admin"], "ada")


def test_listing_shows_last_use_and_expiry(keyed):
    store, keys = keyed
    assert store.keys.of("ada")[0].last_used_at is None
    authorize(store, keys["ada"], "ada")
    listed = store.keys.of("ada")
    assert len(listed) == 1 and listed[0].last_used_at is not None
    assert listed[0].expires_at is None and not listed[0].expired()
    assert [k.user for k in store.keys.of(None)] == [None]


def test_an_expired_key_is_refused(keyed):
    store, _ = keyed
    soon = store.keys.create("bob", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
    authorize(store, soon, "bob")
    late = store.keys.create("bob", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    with pytest.raises(AuthError, match="expired"):
        authorize(store, late, "bob")
    assert [k.expired() for k in store.keys.of("bob")] == [False, False, True]


def test_rotation_replaces_every_key_and_advances_the_token_generation(keyed):
    store, keys = keyed
    store.keys.create("ada")
    before = store.users.get("ada")
    new = store.keys.rotate("ada")
    with pytest.raises(AuthError):
        authorize(store, keys["ada"], "ada")
    authorize(store, new, "ada")
    after = store.users.get("ada")
    assert len(store.keys.of("ada")) == 1
    assert (after.uid, after.token_generation) == (before.uid, before.token_generation + 1)
    authorize(store, keys["bob"], "bob")  # nobody else's keys change


def test_user_key_cli_lists_revokes_rotates_and_expires(keyed):
    from typer.testing import CliRunner

    from paperrec.cli import app

    store, keys = keyed
    run = CliRunner().invoke
    made = run(app, ["user", "key", "ada", "--expires-in", "1"])
    assert made.exit_code == 0 and "valid until" in made.stderr
    listed = run(app, ["user", "key", "ada", "--list"])
    assert listed.exit_code == 0 and listed.stdout.count("never") >= 2, listed.stdout
    first = store.keys.of("ada")[0].id
    revoked = run(app, ["user", "key", "ada", "--revoke", str(first)])
    assert revoked.exit_code == 0 and f"revoked API key for ada {first}" in revoked.stdout
    rotated = run(app, ["user", "key", "ada", "--rotate"])
    assert rotated.exit_code == 0 and "feedback link" in rotated.stderr
    authorize(store, rotated.stdout.strip(), "ada")
    admin = run(app, ["user", "key", "--admin", "--list"])
    assert admin.exit_code == 0 and "never" in admin.stdout
    bad = run(app, ["user", "key", "ada", "--list", "--rotate"])
    assert bad.exit_code == 1 and "at most one" in bad.stderr
    gone = run(app, ["user", "key", "ada", "--revoke", "999"])
    assert gone.exit_code == 1 and "no API key 999" in gone.stderr
