"""Session cookies, CSRF tokens, sign-in link tokens and the sign-in rate limit."""

from __future__ import annotations

import pytest

from paperrec.errors import AuthError
from paperrec.users.signin import make_link_token, verify_link_token
from paperrec.web.session import RateLimit, Sessions, new_session

SECRET = "session-test-secret-0123456789"


def test_a_session_round_trips_and_a_forged_one_is_ignored():
    sessions = Sessions(SECRET, secure=False)
    session = new_session("ada")
    cookie = sessions.dump(session)
    assert sessions.load(cookie) == session
    assert sessions.load(cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")) is None
    assert Sessions("another-secret-0123456789", secure=False).load(cookie) is None
    assert sessions.load("garbage") is None and sessions.load(None) is None
    options = Sessions(SECRET, secure=True).cookie_options()
    assert options["httponly"] and options["secure"] and options["samesite"] == "lax"


def test_csrf_tokens_compare_exactly():
    session = new_session()
    assert session.checks(session.csrf)
    assert not session.checks("") and not session.checks(None)
    assert not session.checks(session.csrf + "x")
    assert new_session().csrf != session.csrf


def test_link_tokens_are_signed():
    token = make_link_token(SECRET, "n" * 32)
    assert verify_link_token(SECRET, token) == "n" * 32
    with pytest.raises(AuthError, match="signature"):
        verify_link_token("another-secret-0123456789", token)
    with pytest.raises(AuthError, match="malformed"):
        verify_link_token(SECRET, "not a token")


def test_rate_limit_counts_per_key_within_the_window():
    limit = RateLimit(2, seconds=60)
    assert limit.allow("a", now=0) and limit.allow("a", now=1)
    assert not limit.allow("a", now=2)
    assert limit.allow("b", now=2)
    assert limit.allow("a", now=61)  # the first one left the window
