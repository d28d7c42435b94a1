"""The store functions behind the web app: full-text search (FTS5 kept in step by
triggers), one-time sign-in links, and readers' activity (like counts, undo)."""

from __future__ import annotations

import datetime as dt

import pytest

from paperrec.schema import FeedbackSource, Paper, Signal

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL

PAPERS = [
    Paper.create("Speculative decoding for large language models",
                 "We draft tokens with a small model and verify them with a large one.",
                 id="2401.00001"),
    Paper.create("Bird's-eye-view perception for autonomous driving",
                 "BEV features from multi-camera images improve 3D detection.", id="2401.00002"),
    Paper.create("Decoding brain signals", "Neural decoding of speech from EEG recordings.",
                 id="2401.00003"),
]  # fmt: skip


@pytest.fixture()
def filled(store):
    store.papers.upsert(PAPERS, "test")
    return store


def test_full_text_matches_every_word_best_first(filled):
    assert filled.papers.search_text("speculative decoding") == ["2401.00001"]
    assert set(filled.papers.search_text("decoding")) == {"2401.00001", "2401.00003"}
    assert filled.papers.search_text("bird's-eye view") == ["2401.00002"]
    assert filled.papers.search_text('"; DROP TABLE papers; --') == []
    assert filled.papers.search_text("   ") == []


def test_full_text_follows_updates_and_rekeys(filled):
    changed = Paper.create("Speculative sampling for language models", PAPERS[0].abstract,
                           id="2401.00001v2")  # fmt: skip
    filled.papers.upsert([changed], "test")
    assert filled.papers.search_text("sampling") == ["2401.00001"]
    assert filled.papers.search_text("speculative decoding") == []
    keyed = Paper.create("Graph transformers at scale", "Attention over graph nodes.")
    filled.papers.upsert([keyed], "hf")
    assert filled.papers.search_text("graph transformers") == [keyed.id]
    filled.papers.upsert([Paper.create(keyed.title, keyed.abstract, id="2402.00009")], "api")
    assert filled.papers.search_text("graph transformers") == ["2402.00009"]


def test_signin_link_works_once_and_expires(filled):
    filled.users.add("ada", "ada@example.org")
    now = dt.datetime.now(dt.UTC)
    filled.signin.issue("ada", "nonce-1", now + dt.timedelta(minutes=15))
    assert filled.signin.consume("nonce-1") == "ada"
    assert filled.signin.consume("nonce-1") is None and filled.signin.state("nonce-1") == "used"
    filled.signin.issue("ada", "nonce-2", now + dt.timedelta(minutes=15))
    later = now + dt.timedelta(minutes=16)
    assert filled.signin.consume("nonce-2", now=later) is None
    assert filled.signin.state("nonce-2") == "usable"  # not expired yet by the real clock
    assert filled.signin.state("never-issued") == "unknown"
    filled.users.delete("ada")
    assert filled.signin.state("nonce-2") == "unknown"


def test_like_counts_stamps_and_undo(filled):
    for name in ("ada", "bob"):
        filled.users.add(name, f"{name}@example.org")
    stamp = filled.activity.feedback_stamp("ada")
    filled.users.add_feedback("ada", "2401.00001", Signal.UP, FeedbackSource.WEB)
    filled.users.add_feedback("ada", "2401.00001", Signal.SAVED, FeedbackSource.WEB)
    filled.users.add_feedback("bob", "2401.00001", Signal.SAVED, FeedbackSource.WEB)
    filled.users.add_feedback("bob", "2401.00002", Signal.DOWN, FeedbackSource.WEB)
    assert filled.activity.feedback_stamp("ada") != stamp
    assert filled.activity.like_counts(["2401.00001", "2401.00002"]) == {"2401.00001": 2}
    assert filled.activity.latest_signal("ada", "2401.00001") == "saved"
    assert filled.activity.take_back("ada", "2401.00001") == 2
    assert filled.activity.latest_signal("ada", "2401.00001") is None
    assert filled.activity.like_counts(["2401.00001"]) == {"2401.00001": 1}
    assert filled.activity.take_back("ada", "2401.00001") == 0
