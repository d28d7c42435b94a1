"""``paperrec digest --status`` and ``--confirm``: a digest whose delivery nobody knows is
reported by every run, with a failing exit code, until an operator resends or confirms it
(issue 13, item 4). No model is needed: the digests are recorded in the outbox directly."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

import pytest
from sqlalchemy import update

from digest_helpers import SmtpServers, cli, digest_environment
from paperrec.config import Settings
from paperrec.store import NewEntry, Store
from paperrec.store.db import outbox
from paperrec.users.profiles import add_user

D = dt.date(2024, 3, 8)


def entry(user: str, date: dt.date = D) -> NewEntry:
    return NewEntry(
        user=user, date=date, kind="digest", email=f"{user}@example.org",
        subject=f"paperrec: digest for {user}", html=f"<p>hello {user}</p>",
        text=f"hello {user}", paper_ids=("2401.00001",), message_id=f"<{user}.{date}@x.org>",
    )  # fmt: skip


@pytest.fixture()
def smtp(home, monkeypatch):
    digest_environment(monkeypatch, home)
    servers = SmtpServers()
    inbox, port = servers.start()
    monkeypatch.setenv("PAPERREC_SMTP_PORT", str(port))
    yield inbox
    servers.stop()


@pytest.fixture()
def lost(smtp):
    """ada's digest was handed to the server by a run that then died; bob's is pending."""
    store = Store(Settings())
    for name in ("ada", "bob"):
        add_user(store, name, f"{name}@example.org")
    ada, _ = store.outbox.record(entry("ada"))
    store.outbox.record(entry("bob"))
    store.outbox.claim(ada.id)
    store.outbox.handing_over(ada.id)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.id == ada.id)
            .values(claimed_by=f"{socket.gethostname()}:{dead.stdout.strip()}")
        )  # fmt: skip
    return store


def test_every_run_reports_an_unconfirmed_digest_and_fails_until_it_is_confirmed(lost, smtp):
    for _ in range(3):
        run = cli("digest", "--date", D.isoformat())
        assert run.exit_code == 1, run.output
        assert "unconfirmed: ada <ada@example.org> (2024-03-08)" in run.stderr
        assert "--confirm" in run.stderr and "1 unconfirmed" in run.stderr
    assert [m["To"] for _, m in smtp.messages] == ["bob@example.org"]  # ada not resent
    status = cli("digest", "--status")
    assert status.exit_code == 1 and "unconfirmed" in status.stdout
    confirmed = cli("digest", "--user", "ada", "--date", D.isoformat(), "--confirm")
    assert confirmed.exit_code == 0, confirmed.output
    assert lost.outbox.get("ada", D).status == "sent"
    assert lost.users.shown_ids("ada") == {"2401.00001"}
    clean = cli("digest", "--date", D.isoformat())
    assert clean.exit_code == 0 and "unconfirmed" not in clean.stderr
    assert cli("digest", "--status").exit_code == 0
    assert len(smtp.messages) == 1  # nothing was sent twice


def test_status_lists_pending_failed_and_unconfirmed(lost, smtp, monkeypatch):
    monkeypatch.setenv("PAPERREC_SMTP_PORT", "1")  # nothing listens: bob's send fails
    monkeypatch.setenv("PAPERREC_DIGEST_ATTEMPTS_PER_RUN", "1")
    monkeypatch.setenv("PAPERREC_DIGEST_RETRY_DELAY", "3600")
    assert cli("digest", "--date", D.isoformat()).exit_code == 1
    lost.outbox.record(entry("bob", D + dt.timedelta(days=1)))
    status = cli("digest", "--status")
    assert status.exit_code == 1
    assert "1 pending, 1 failed, 1 unconfirmed digest(s) not delivered" in status.stderr
    for state in ("pending", "failed", "unconfirmed"):
        assert state in status.stdout


def test_confirm_needs_an_unconfirmed_digest(lost, smtp):
    bad = cli("digest", "--user", "bob", "--date", D.isoformat(), "--confirm")
    assert (
        bad.exit_code == 1 and "no unconfirmed digest for 2024-03-08 (it is pending)" in bad.stderr
    )
    assert cli("digest", "--confirm").exit_code == 1  # needs --user and --date
