"""Chaos: ``paperrec digest`` killed with SIGKILL before, during and after SMTP DATA.

Digests are recorded in the outbox first (no model is needed to send them); then a real
``paperrec digest`` process sends them to an aiosmtpd server on 127.0.0.1, which holds the
conversation at the chosen point while the process is killed. The next run must deliver
every digest exactly once, or report it as unconfirmed (and fail) until an operator acts.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time

import pytest
from chaos_common import Tally, environment, in_process

from digest_helpers import SECRET, Inbox, SmtpServers
from paperrec.config import Settings
from paperrec.store import NewEntry, Store
from paperrec.users.profiles import add_user

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

D = dt.date(2024, 3, 8)
USERS = ("ada", "bob", "cy")


def _entry(user: str) -> NewEntry:
    return NewEntry(
        user=user, date=D, kind="digest", email=f"{user}@example.org",
        subject=f"paperrec: digest for {user}", html=f"<p>hello {user}</p>",
        text=f"hello {user}", paper_ids=("2401.00001",), message_id=f"<{user}.{D}@x.org>",
    )  # fmt: skip


def _wait(event: threading.Event | None, predicate=None, seconds: float = 300) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (event is not None and event.is_set()) or (predicate is not None and predicate()):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("moment", ["before DATA", "during DATA", "after DATA"])
def test_a_killed_digest_run_is_delivered_once_or_reported(moment, tmp_path, monkeypatch):
    home = tmp_path / "home"
    store = Store(Settings(home=home))
    for name in USERS:
        add_user(store, name, f"{name}@example.org")
        store.outbox.record(_entry(name))
    servers = SmtpServers()
    inbox, port = servers.start(Inbox())
    mail = {
        "PAPERREC_TOKEN_SECRET": SECRET, "PAPERREC_SMTP_HOST": "127.0.0.1",
        "PAPERREC_SMTP_PORT": str(port), "PAPERREC_SMTP_SECURITY": "plain",
        "PAPERREC_SMTP_TIMEOUT": "5", "PAPERREC_DIGEST_RETRY_DELAY": "0.05",
    }  # fmt: skip
    env = environment(home, **mail)
    try:
        if moment == "before DATA":
            inbox.hold_rcpt = threading.Event()
        elif moment == "during DATA":
            inbox.hold_data = threading.Event()
        run = subprocess.Popen(
            [sys.executable, "-m", "paperrec.cli", "digest", "--date", D.isoformat()],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if moment == "before DATA":
            assert _wait(inbox.reached_rcpt)
        elif moment == "during DATA":
            assert _wait(inbox.reached_data)
        else:  # the first message was answered 250; the run is on to the next one
            assert _wait(None, lambda: len(inbox.messages) >= 1)
        run.kill()
        run.wait(30)
        for hold in (inbox.hold_rcpt, inbox.hold_data):
            if hold is not None:
                hold.set()
        rerun = in_process(["digest", "--date", D.isoformat()], home, monkeypatch, **mail)
        status = in_process(["digest", "--status"], home, monkeypatch, **mail)
    finally:
        servers.stop()
    received = [m["To"].split("@")[0] for _, m in inbox.messages]
    states = {e.user: e.status for e in store.outbox.entries()}
    unconfirmed = [u for u, s in states.items() if s == "unconfirmed"]
    for user in unconfirmed:
        assert f"unconfirmed: {user} <" in rerun.stderr
        assert user in status.stdout
    if unconfirmed:
        assert rerun.returncode == 1 and status.returncode == 1
    else:
        assert rerun.returncode == 0, rerun.stderr
        assert status.returncode == 0, status.stdout + status.stderr
    lost = [u for u in USERS if u not in received and u not in unconfirmed]
    duplicated = [u for u in USERS if received.count(u) > 1]
    fault = f"kill -9 of digest {moment} (aiosmtpd)"
    Tally(fault, 1, len(USERS), len(lost), len(duplicated)).record()
    assert lost == [] and duplicated == []
    assert all(states[u] == "sent" for u in USERS if u not in unconfirmed)
    if moment == "during DATA":
        assert unconfirmed == ["ada"]  # the server had it; whether the user did is unknown
