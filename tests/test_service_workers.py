"""``paperrec serve --workers 2`` on PostgreSQL, bounded and on 127.0.0.1, while a
``paperrec digest`` run sends the day's digests and two CLI writer processes add papers,
votes and papers shown, all at once: both workers answer, every vote sent from many
connections is stored once, every write a writer saw acknowledged is stored, every digest
arrives once, and a champion promoted while the workers run is picked up by each of them.
(Throughput of 1 vs 2 workers is measured in bench/serve_workers.py, not here.)"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from concurrency_workers import USERS as READERS
from concurrency_workers import check_acknowledged, outbox_entry, ready, spawn
from digest_helpers import SmtpServers
from paperrec.serving.process import free_port
from service_helpers import copy_home, environment, start

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database", ["postgresql"], indirect=True)]

USERS = ("ann", "bob")
VOTES_PER_USER = 30
CONNECTIONS = 8
DIGEST_DATE = dt.date(2024, 5, 6)
SECONDS = 120  # per process


def _workers_seen(url: str, want: int, timeout: float = 120) -> dict:
    """{worker pid: /readyz body} once ``want`` workers answered, each on a new connection."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        body = httpx.get(f"{url}/readyz", timeout=30).json()
        seen[body["worker"]] = body
    assert len(seen) >= want, f"only workers {sorted(seen)} answered"
    return seen


def test_two_workers_a_digest_run_and_cli_writers_at_once_lose_nothing_and_send_once(
    trained_home, session_cache, tmp_path, database_url, monkeypatch
):
    from paperrec.config import Settings
    from paperrec.store import Store
    from paperrec.store.db import feedback, outbox, users
    from paperrec.store.transfer import copy_store
    from paperrec.train import registry
    from paperrec.train.tracking import tracked_run
    from paperrec.users.profiles import add_user

    home = copy_home(trained_home, tmp_path / "home", session_cache.path)
    copy_store(Settings(home=home).resolved_database_url, database_url)
    (home / "paperrec.sqlite").unlink()
    store = Store(Settings(home=home, database_url=database_url))
    stored = [p.id for p in store.papers.iter_papers()]
    keys = {}
    for n, name in enumerate(USERS):
        add_user(store, name, f"{name}@example.org", seeds=[stored[n]])
        keys[name] = store.keys.create(name)
    votes = [
        (name, stored[100 + n * VOTES_PER_USER + i], ("up", "down", "dismissed")[i % 3])
        for n, name in enumerate(USERS)
        for i in range(VOTES_PER_USER)
    ]
    for name in READERS:  # the CLI writers' readers
        add_user(store, name, f"{name}@example.org")
    for name in (*USERS, *READERS):  # composed by an earlier run (no models needed), unsent
        store.outbox.record(outbox_entry(name, DIGEST_DATE))

    port = free_port()
    env = environment(home, PAPERREC_DATABASE_URL=database_url, PAPERREC_RELOAD_INTERVAL="1")
    command = [sys.executable, "-m", "paperrec.cli", "serve", "--port", str(port)]
    server = start([*command, "--workers", "2"], env, tmp_path / "server.log",
                   f"http://127.0.0.1:{port}")  # fmt: skip
    servers = SmtpServers()
    inbox, smtp_port = servers.start()
    go, acks = tmp_path / "go", tmp_path / "acks.jsonl"
    process_env = {
        **env, "PAPERREC_SMTP_HOST": "127.0.0.1", "PAPERREC_SMTP_PORT": str(smtp_port),
        "PAPERREC_SMTP_SECURITY": "plain", "PAPERREC_SMTP_TIMEOUT": "10",
        "PAPERREC_DIGEST_RETRY_DELAY": "0.05",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), *sys.path])),
    }  # fmt: skip
    processes = [spawn("writer", str(n), str(go), str(acks), env=process_env) for n in (0, 1)]
    processes.append(spawn("digest", DIGEST_DATE.isoformat(), str(go), env=process_env))
    try:
        first = _workers_seen(server.url, 2)
        ready(go, len(processes))

        def send(vote: tuple[str, str, str]) -> httpx.Response:
            name, paper, signal = vote
            body = {"user": name, "paper_id": paper, "signal": signal}
            headers = {"Authorization": f"Bearer {keys[name]}"}
            # a connection per vote, so the kernel spreads them over both workers
            return httpx.post(f"{server.url}/feedback", json=body, headers=headers, timeout=60)

        go.touch()  # the writers and the digest run start, and the votes go out
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            answers = list(pool.map(send, votes))
        outputs = [p.communicate(timeout=SECONDS)[0] for p in processes]

        monkeypatch.setenv("PAPERREC_HOME", str(home))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = Settings(home=home)
        old = next(iter(first.values()))["versions"]["topics"]
        bundle, _ = registry.fetch_bundle(settings, registry.TOPICS_MODEL, old)
        with tracked_run(settings, "worker-tests", "republish"):
            new = registry.register_bundle(settings, bundle, registry.TOPICS_MODEL)
        registry.promote(settings, registry.TOPICS_MODEL, new)
        deadline, following = time.monotonic() + 60, {}
        while len(following) < 2 and time.monotonic() < deadline:
            body = httpx.get(f"{server.url}/readyz", timeout=30).json()
            if body["versions"]["topics"] == new:
                following[body["worker"]] = body
    finally:
        server.stop()
        for p in processes:
            p.kill()
        servers.stop()

    for p, output in zip(processes, outputs, strict=True):
        assert p.returncode == 0, output[-3000:]
    assert [a.status_code for a in answers] == [200] * len(votes), server.log_tail()
    assert set(following) == set(first), f"workers on v{new}: {sorted(following)}"
    with store.engine.connect() as conn:
        query = (
            select(users.c.name, feedback.c.paper_id, feedback.c.signal)
            .join(users, users.c.id == feedback.c.user_id)
            .where(feedback.c.source == "http")
        )
        rows = conn.execute(query).tuples().all()
    assert sorted(rows) == sorted(votes)  # every vote once: none lost, none doubled
    check_acknowledged(store, acks, writers=2)
    arrived = [m["Message-ID"] for _, m in inbox.messages]
    assert len(arrived) == len(USERS) + len(READERS) == len(set(arrived)), sorted(arrived)
    with store.engine.connect() as conn:
        assert set(conn.execute(select(outbox.c.status)).scalars()) == {"sent"}
    store.engine.dispose()
