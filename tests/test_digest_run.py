"""`paperrec.digest.run.run_digests`, the library call behind ``paperrec digest``: the events
of a run, in order, on a copy of the trained install with a real aiosmtpd server; the store
on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from digest_helpers import SmtpServers, home_with_users
from paperrec.config import Settings
from paperrec.digest.delivery import Delivery
from paperrec.digest.run import Composed, FilesWritten, Finished, Sending, run_digests
from paperrec.runtime import Runtime

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL


@pytest.fixture()
def day(trained_home, session_cache, tmp_path, monkeypatch, database_url) -> dt.date:
    """A private copy of the trained home with users ada and bob (its store copied to
    PostgreSQL on that engine); the digests' date."""
    home = tmp_path / "home"
    return dt.date.fromisoformat(
        home_with_users(trained_home, session_cache, home, monkeypatch, database_url)
    )


def test_a_run_yields_each_step_and_a_rerun_needs_no_model(day, tmp_path, monkeypatch):
    servers = SmtpServers()
    inbox, port = servers.start()
    monkeypatch.setenv("PAPERREC_SMTP_PORT", str(port))
    try:
        rt = Runtime(Settings())
        events = list(run_digests(rt, ["ada", "bob"], day, out_dir=tmp_path / "out"))
    finally:
        servers.stop()
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "Sending", "Composed", "Composed", "FilesWritten", "Delivery", "Delivery", "Finished",
    ]  # fmt: skip
    assert events[0] == Sending("127.0.0.1", port, "plain")
    composed = [e for e in events if isinstance(e, Composed)]
    assert [e.planned.status for e in composed] == ["ready", "ready"]
    assert [f.name for e in composed for f in e.files] == [f"{day}-ada.eml", f"{day}-bob.eml"]
    assert events[3] == FilesWritten(tmp_path / "out", 2)
    sent = [e for e in events if isinstance(e, Delivery)]
    assert {e.entry.user for e in sent} == {"ada", "bob"} and {e.status for e in sent} == {"sent"}
    assert events[-1] == Finished(waiting=0, unconfirmed=0) and len(inbox.messages) == 2

    # everyone is recorded: the rerun composes nothing, so it runs without the models
    shutil.rmtree(rt.settings.home / "champions")
    again = list(run_digests(Runtime(Settings()), ["ada", "bob"], day, send=False))
    assert [(e.planned.user, e.planned.status) for e in again] == [
        ("ada", "recorded"), ("bob", "recorded"),
    ]  # fmt: skip


def test_a_dry_run_composes_only(day):
    rt = Runtime(Settings())
    events = list(run_digests(rt, ["bob"], day, dry_run=True))
    assert [type(e) for e in events] == [Composed]
    assert events[0].planned.status == "ready" and events[0].files == ()
    assert rt.store.outbox.entries() == []
