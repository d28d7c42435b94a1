"""Votes arriving together share one commit, and a bad row fails only its own writer."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from paperrec.store.db import feedback
from paperrec.store.group_commit import GroupCommit

pytestmark = pytest.mark.both_engines


def _hold_first_commit(engine, group: GroupCommit, queued: int) -> list[int]:
    """Hold the engine's first commit until ``queued`` rows wait behind it; returns a list
    that counts the commits."""
    commits: list[int] = []

    def on_commit(_conn) -> None:
        if not commits:
            deadline = time.monotonic() + 20
            while len(group._queue) < queued and time.monotonic() < deadline:
                time.sleep(0.005)
        commits.append(1)

    event.listen(engine, "commit", on_commit)
    return commits


def _run(writers) -> dict[int, BaseException | None]:
    outcome: dict[int, BaseException | None] = {}

    def run(i, write) -> None:
        try:
            write()
            outcome[i] = None
        except Exception as exc:  # what that writer's caller would see
            outcome[i] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
        time.sleep(0.02)  # the first one leads
    for t in threads:
        t.join(30)
    return outcome


def test_votes_arriving_during_a_commit_share_the_next_one(store):
    store.users.add("reader", "reader@example.org")
    group = store.users._votes
    commits = _hold_first_commit(store.engine, group, queued=5)
    votes = [
        lambda i=i: store.users.add_feedback("reader", f"2501.{i:05d}", "up", "http")
        for i in range(6)
    ]
    assert _run(votes) == dict.fromkeys(range(6))
    stored = [e.paper_id for e in store.users.feedback("reader")]
    assert sorted(stored) == [f"2501.{i:05d}" for i in range(6)]
    assert len(commits) == 2  # the first vote alone, then the five that queued behind it


def test_a_bad_row_fails_its_own_writer_and_the_others_are_stored(store):
    user = store.users.add("reader", "reader@example.org")
    group = GroupCommit(store.engine, feedback)
    commits = _hold_first_commit(store.engine, group, queued=3)

    def row(paper_id: str, user_id: int) -> dict:
        return {
            "user_id": user_id,
            "paper_id": paper_id,
            "signal": "up",
            "source": "http",
            "created_at": "2026-11-30T00:00:00+00:00",
        }

    writers = [
        lambda: group.insert(row("first", user.id)),
        lambda: group.insert(row("good-1", user.id)),
        lambda: group.insert(row("no-such-user", user.id + 1000)),  # breaks the foreign key
        lambda: group.insert(row("good-2", user.id)),
    ]
    outcome = _run(writers)
    assert isinstance(outcome.pop(2), IntegrityError)
    assert outcome == {0: None, 1: None, 3: None}
    stored = sorted(e.paper_id for e in store.users.feedback("reader"))
    assert stored == ["first", "good-1", "good-2"]
    assert len(commits) == 3  # the first, then good-1 and good-2 alone after the shared one failed
