"""The store on PostgreSQL under several processes at once: two writers (the same new
papers, votes, papers shown) and two ``paperrec digest`` runs sending the same outbox
through a real aiosmtpd server on 127.0.0.1. Every write a process saw acknowledged is
stored afterwards, and every digest arrives exactly once.

Bounded: a dozen readers, 48 papers, 48 digests; each process has two minutes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from concurrency_workers import (
    BATCH,
    ROUNDS,
    USERS,
    check_acknowledged,
    outbox_entry,
    spawn,
)
from digest_helpers import Inbox, SmtpServers
from paperrec.store.db import (
    SCHEMA_VERSION,
    meta,
    open_engine,
    outbox,
    shown,
    users,
)
from paperrec.users.profiles import add_user

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database", ["postgresql"], indirect=True)]

DATES = [dt.date(2024, 5, 1) + dt.timedelta(days=n) for n in range(4)]
SECONDS = 120


class SlowInbox(Inbox):
    """Takes 30 ms per message, so that the two digest runs overlap for a while."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.03)
        return await super().handle_DATA(server, session, envelope)


def test_writers_and_two_digest_runs_at_once_lose_nothing_and_send_once(
    store, home, database_url, tmp_path, monkeypatch
):
    for user in USERS:
        add_user(store, user, f"{user}@example.org")
    for date in DATES:  # recorded by earlier runs (so the runs need no models), not sent
        for user in USERS:
            store.outbox.record(outbox_entry(user, date))
    expected = len(store.outbox.due())

    servers = SmtpServers()
    inbox, port = servers.start(SlowInbox())
    env = {
        **os.environ, "PAPERREC_SMTP_HOST": "127.0.0.1", "PAPERREC_SMTP_PORT": str(port),
        "PAPERREC_SMTP_SECURITY": "plain", "PAPERREC_SMTP_TIMEOUT": "10",
        "PAPERREC_DIGEST_RETRY_DELAY": "0.05", "PAPERREC_TOKEN_SECRET": "s" * 40,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), *sys.path])),
    }  # fmt: skip
    go, acks = tmp_path / "go", tmp_path / "acks.jsonl"
    processes = [spawn("writer", str(n), str(go), str(acks), env=env) for n in (0, 1)]
    processes += [spawn("digest", DATES[-1].isoformat(), str(go), env=env) for _ in (0, 1)]
    try:
        go.touch()
        outputs = [p.communicate(timeout=SECONDS)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
        servers.stop()
    for p, output in zip(processes, outputs, strict=True):
        assert p.returncode == 0, output[-3000:]

    # every digest arrived once, and the two runs shared the work
    arrived = [m["Message-ID"] for _, m in inbox.messages]
    assert len(arrived) == expected == len(set(arrived)), sorted(arrived)
    with store.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.status, outbox.c.claimed_by)).all()
        assert {status for status, _ in rows} == {"sent"}
        assert len({by for _, by in rows}) == 2, "one run sent everything: no overlap"

    # every acknowledged write is stored
    check_acknowledged(store, acks, writers=2)
    assert store.papers.count() == ROUNDS * BATCH
    with store.engine.connect() as conn:
        seen = set(
            conn.execute(
                select(users.c.name, shown.c.paper_id).select_from(
                    shown.join(users, users.c.id == shown.c.user_id)
                )
            ).tuples()
        )
    assert {(u, "2404.00000") for u in USERS} <= seen  # marked by the digests' delivery


def test_processes_opening_a_new_database_at_once_migrate_it_once(new_database, tmp_path):
    url = new_database()
    code = (
        "import sys, time, pathlib\n"
        "from paperrec.store.db import open_engine\n"
        "go = pathlib.Path(sys.argv[1])\n"
        "while not go.exists(): time.sleep(0.005)\n"
        "open_engine(sys.argv[2]).dispose()\n"
    )
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(go), url], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(4)
    ]  # fmt: skip
    go.touch()
    for p in processes:
        output = p.communicate(timeout=SECONDS)[0]
        assert p.returncode == 0, output[-3000:]
    engine = open_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(meta.c.value)).scalar() == str(SCHEMA_VERSION)
    engine.dispose()


def test_a_claim_another_run_holds_is_skipped_without_waiting(store):
    add_user(store, "ada", "ada@example.org")
    held, _ = store.outbox.record(outbox_entry("ada", DATES[0]))
    answers: list[bool] = []
    with store.engine.connect() as other:  # another run, in the middle of claiming the entry
        transaction = other.begin()
        other.execute(select(outbox.c.id).where(outbox.c.id == held.id).with_for_update())
        claimer = threading.Thread(target=lambda: answers.append(store.outbox.claim(held.id)))
        claimer.start()
        claimer.join(timeout=10)
        waited = claimer.is_alive()
        transaction.rollback()  # releases a claimer that waits on the lock
        claimer.join(timeout=10)
    assert not waited, "the claim waited for the other run's lock instead of skipping it"
    assert answers == [False]
    assert store.outbox.claim(held.id) and not store.outbox.claim(held.id)
