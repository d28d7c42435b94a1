"""The digest outbox (paperrec.store.outbox) and delivery through it (paperrec.digest.delivery):
recorded before sent, retried with back-off, never sent twice for a user and date.

Every send goes to a real aiosmtpd server on 127.0.0.1 that refuses, drops or holds what
the test asks; a killed run is a real process killed while the server holds its message.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import select, update

from digest_helpers import Inbox, SmtpServers, free_port
from paperrec.config import Settings
from paperrec.digest.delivery import deliver, recover, retry_delay
from paperrec.store import NewEntry, Store
from paperrec.store.db import outbox
from paperrec.users.profiles import add_user

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL

D = dt.date(2024, 3, 8)


@pytest.fixture()
def smtp():
    servers = SmtpServers()
    yield servers.start
    servers.stop()


@pytest.fixture()
def users(store):
    for name in ("ada", "bob"):
        add_user(store, name, f"{name}@example.org")
    return store


def entry(user: str, date: dt.date = D, papers=("2401.00001", "2401.00002"), kind="digest"):
    return NewEntry(
        user=user, date=date, kind=kind, email=f"{user}@example.org",
        subject=f"paperrec: digest for {user}", html=f"<p>hello {user}</p>",
        text=f"hello {user}", paper_ids=papers, message_id=f"<{user}.{date}@example.org>",
    )  # fmt: skip


def mail_settings(settings: Settings, port: int, **extra) -> Settings:
    values = {
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "plain",
        "smtp_timeout": 5, "digest_retry_delay": 0.05, **extra,
    }  # fmt: skip
    return settings.model_copy(update=values)


def statuses(store: Store) -> dict[str, str]:
    return {e.user: e.status for e in store.outbox.entries()}


# -- the outbox ---------------------------------------------------------------------------
def test_one_entry_per_user_and_date_never_replaced(users):
    first, created = users.outbox.record(entry("ada"))
    assert created and first.status == "pending" and first.attempts == 0
    again, created = users.outbox.record(entry("ada", papers=("2401.99999",)))
    assert not created and again.id == first.id and again.paper_ids == first.paper_ids
    empty, created = users.outbox.record(entry("bob", kind="empty", papers=()))
    assert created and empty.status == "skipped"  # recorded so reruns agree, nothing to send
    assert [e.user for e in users.outbox.due()] == ["ada"]
    assert users.outbox.last_dates(["ada", "bob"], before=D + dt.timedelta(days=1)) == {
        "ada": D,
        "bob": D,
    }
    assert users.outbox.held_ids(["ada"], since=D) == {"ada": {"2401.00001", "2401.00002"}}


def test_claim_is_exclusive_and_sent_marks_the_papers_shown(users):
    stored, _ = users.outbox.record(entry("ada"))
    assert users.outbox.claim(stored.id) and not users.outbox.claim(stored.id)
    users.outbox.mark_sent(stored)
    assert statuses(users) == {"ada": "sent"}
    assert users.users.shown_ids("ada") == {"2401.00001", "2401.00002"}
    assert users.users.shown_ids("bob") == set()
    assert users.outbox.due() == [] and not users.outbox.claim(stored.id)


def test_a_killed_run_is_retried_or_left_unconfirmed(users, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    claimed_by = f"{socket.gethostname()}:{dead.stdout.strip()}"
    ada, _ = users.outbox.record(entry("ada"))
    bob, _ = users.outbox.record(entry("bob"))
    for item in (ada, bob):
        assert users.outbox.claim(item.id)
    users.outbox.handing_over(bob.id)  # bob's run died while the server had the message
    with users.engine.begin() as conn:
        conn.execute(update(outbox).values(claimed_by=claimed_by))
    retried, unconfirmed = recover(users, Settings())
    assert [e.user for e in retried] == ["ada"] and [e.user for e in unconfirmed] == ["bob"]
    assert statuses(users) == {"ada": "pending", "bob": "unconfirmed"}
    assert [e.user for e in users.outbox.due()] == ["ada"]  # bob is not resent on his own
    assert "may or may not have arrived" in users.outbox.get("bob", D).last_error
    assert users.outbox.requeue("bob", D).status == "pending"  # only when asked
    assert users.outbox.requeue("bob", D - dt.timedelta(days=1)) is None


def test_a_live_run_keeps_its_claim(users):
    ada, _ = users.outbox.record(entry("ada"))
    users.outbox.claim(ada.id)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with users.engine.begin() as conn:
            host = socket.gethostname()
            conn.execute(update(outbox).values(claimed_by=f"{host}:{live.pid}"))
        assert recover(users, Settings()) == ([], [])
        assert statuses(users) == {"ada": "sending"}
    finally:
        live.kill()
        live.wait()
    assert [e.user for e in recover(users, Settings())[0]] == ["ada"]


def test_back_off_doubles_up_to_an_hour():
    settings = Settings(digest_retry_delay=60)
    assert [retry_delay(settings, n) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


# -- delivery over SMTP ---------------------------------------------------------------------
def test_temporary_refusal_is_retried_and_arrives_once(users, smtp, settings):
    inbox, port = smtp(Inbox(fail_first=2))
    users.outbox.record(entry("ada"))
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        time.sleep(seconds)

    outcomes = list(deliver(users, mail_settings(settings, port), sleep=sleep))
    assert [o.status for o in outcomes] == ["retrying", "retrying", "sent"]
    assert "451 4.3.0 try again later" in outcomes[0].detail
    assert len(pauses) == 2 and 0 < pauses[0] <= 0.05 and pauses[1] > pauses[0]  # back-off
    (message,) = inbox.to("ada@example.org")
    assert message["Message-ID"] == "<ada.2024-03-08@example.org>"
    stored = users.outbox.get("ada", D)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 3, None)
    assert list(deliver(users, mail_settings(settings, port))) == []  # nothing twice


def test_dropped_connection_is_retried_without_loss(users, smtp, settings):
    inbox, port = smtp(Inbox(drop_first=1))
    users.outbox.record(entry("ada"))
    users.outbox.record(entry("bob"))
    outcomes = list(deliver(users, mail_settings(settings, port)))
    assert [(o.entry.user, o.status) for o in outcomes] == [
        ("ada", "retrying"), ("bob", "sent"), ("ada", "sent"),
    ]  # fmt: skip
    assert "closed" in outcomes[0].detail.lower()
    assert len(inbox.to("ada@example.org")) == len(inbox.to("bob@example.org")) == 1
    assert statuses(users) == {"ada": "sent", "bob": "sent"}


def test_out_of_attempts_stays_in_the_outbox_for_the_next_run(users, smtp, settings):
    port = free_port()  # nothing listens yet
    users.outbox.record(entry("ada"))
    first = mail_settings(settings, port, digest_attempts_per_run=2)
    outcomes = list(deliver(users, first))
    assert [o.status for o in outcomes] == ["retrying", "failed"]
    assert "connection refused" in outcomes[-1].detail
    stored = users.outbox.get("ada", D)
    assert (stored.status, stored.attempts) == ("pending", 2)
    assert users.users.shown_ids("ada") == set()  # not delivered, not shown
    inbox, port = smtp()
    later = mail_settings(settings, port)
    assert users.outbox.due() == []  # its next attempt is not due yet...
    time.sleep(retry_delay(later, 2) + 0.05)
    assert [o.status for o in deliver(users, later)] == ["sent"]  # ...the next run sends it
    assert len(inbox.to("ada@example.org")) == 1
    assert users.users.shown_ids("ada") == {"2401.00001", "2401.00002"}


def test_permanent_refusal_of_one_user_does_not_hold_up_the_others(users, smtp, settings):
    inbox, port = smtp(Inbox(refuse={"bob@example.org"}))
    users.outbox.record(entry("ada"))
    users.outbox.record(entry("bob"))
    outcomes = list(deliver(users, mail_settings(settings, port, digest_attempts_per_run=1)))
    assert {(o.entry.user, o.status) for o in outcomes} == {("ada", "sent"), ("bob", "failed")}
    assert "550 5.1.1 no such mailbox" in [o.detail for o in outcomes if o.status == "failed"][0]
    assert len(inbox.messages) == 1 and statuses(users) == {"ada": "sent", "bob": "pending"}


def test_only_the_named_users_are_delivered(users, smtp, settings):
    inbox, port = smtp()
    users.outbox.record(entry("ada"))
    users.outbox.record(entry("bob"))
    assert [o.entry.user for o in deliver(users, mail_settings(settings, port), ["bob"])] == ["bob"]
    assert statuses(users) == {"ada": "pending", "bob": "sent"}
    with users.engine.connect() as conn:
        assert conn.execute(select(outbox.c.claimed_by).where(outbox.c.status == "sent")).scalar()
