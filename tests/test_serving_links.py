"""Digest feedback links (paperrec.serving.links): a GET only asks, a POST votes; a link is
bound to the user's immutable id and token generation, never to the name."""

from __future__ import annotations

import pytest

from paperrec.errors import ForbiddenError, NotFoundError
from paperrec.schema import Paper, Signal
from paperrec.serving.links import check_click, confirmation_page, record_click
from paperrec.users.profiles import add_user, delete_user
from paperrec.users.tokens import make_token

SECRET = "links-test-secret-0123456789-0123456789"
ABSTRACT = "We study sparse attention and report results on several benchmarks."


@pytest.fixture()
def stocked(store):
    store.papers.upsert([Paper.create("Sparse Attention", ABSTRACT, id="2401.00001")], "jsonl")
    for name in ("ada", "bob"):
        add_user(store, name, f"{name}@example.org")
    return store


def link(store, name: str, signal: str = "up") -> str:
    user = store.users.get(name)
    return make_token(SECRET, user.uid, "2401.00001", signal, generation=user.token_generation)


def votes(store, name: str) -> list[str]:
    return [e.signal.value for e in store.users.feedback(name)]


def test_checking_a_link_records_nothing_and_says_what_the_button_would_do(stocked):
    token = link(stocked, "ada", "saved")
    for _ in range(3):  # a mail scanner fetching the link, again and again
        click = check_click(stocked, SECRET, token)
    assert (click.user, click.paper_id, click.signal) == ("ada", "2401.00001", Signal.SAVED)
    assert votes(stocked, "ada") == []
    page = confirmation_page(click)
    assert '<form method="post">' in page and "Sparse Attention" in page and "ada" in page
    assert "Nothing is recorded until you press the button" in page


def test_recording_a_link_stores_one_vote_for_its_user(stocked):
    event = record_click(stocked, SECRET, link(stocked, "ada", "down"))
    assert (event.user, event.signal, event.source.value) == ("ada", Signal.DOWN, "digest")
    assert votes(stocked, "ada") == ["down"] and votes(stocked, "bob") == []


def test_a_link_of_a_deleted_user_does_not_vote_for_a_new_user_of_the_same_name(stocked):
    old = link(stocked, "ada")
    delete_user(stocked, "ada")
    add_user(stocked, "ada", "new-ada@example.org")
    with pytest.raises(NotFoundError, match="no longer exists") as info:
        record_click(stocked, SECRET, old)
    assert "bob" not in str(info.value)  # nobody else is named
    assert votes(stocked, "ada") == []
    record_click(stocked, SECRET, link(stocked, "ada"))  # the new ada's own links work
    assert votes(stocked, "ada") == ["up"]


def test_a_key_rotation_revokes_the_links_sent_before_it(stocked):
    old = link(stocked, "bob")
    stocked.keys.rotate("bob")
    with pytest.raises(ForbiddenError, match="revoked"):
        check_click(stocked, SECRET, old)
    record_click(stocked, SECRET, link(stocked, "bob"))
    assert votes(stocked, "bob") == ["up"]


def test_forged_and_malformed_links_are_forbidden(stocked):
    token = link(stocked, "ada")
    other = "another-secret-0123456789-0123456789"
    for bad in (token[:-2] + "AA", "garbage", make_token(other, "x", "2401.00001", "up")):
        with pytest.raises(ForbiddenError):
            check_click(stocked, SECRET, bad)


def test_a_link_to_a_paper_no_longer_stored_is_not_found(stocked):
    user = stocked.users.get("ada")
    token = make_token(SECRET, user.uid, "2402.99999", "up")
    with pytest.raises(NotFoundError, match="no longer stored"):
        check_click(stocked, SECRET, token)
