"""Chaos: the HTTP service killed with SIGKILL under a mixed load of votes, /score and
/recommend (8 clients on 127.0.0.1, a bounded number of requests). Every vote the server
acknowledged (200) must be in the store afterwards, once.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from chaos_common import Tally

from paperrec.serving.process import free_port
from service_helpers import copy_home, environment, start

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS = 8
VOTERS = 5  # of the 8 clients; the others score and rank
MAX_REQUESTS = 400  # per client: the load is bounded even if the kill never came
KILL_AFTER_VOTES = 60


def test_kill_9_under_mixed_load_keeps_every_acknowledged_vote(
    trained_home, session_cache, tmp_path
):
    from paperrec.config import Settings
    from paperrec.serving.process import serve_command
    from paperrec.store import Store
    from paperrec.users.profiles import add_user

    home = copy_home(trained_home, tmp_path / "home", session_cache.path)
    store = Store(Settings(home=home))
    papers = [p for p in store.papers.iter_papers() if p.date is not None]
    add_user(store, "ada", "ada@example.org", seeds=[",".join(p.id for p in papers[:3])])
    key = store.keys.create("ada")
    port = free_port()
    server = start(
        serve_command("127.0.0.1", port), environment(home), tmp_path / "server.log",
        f"http://127.0.0.1:{port}",
    )  # fmt: skip
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    voted = iter(p.id for p in papers[3:])

    def voter() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(MAX_REQUESTS):
                if stop.is_set():
                    return
                with lock:
                    paper = next(voted, None)
                if paper is None:
                    return
                body = {"user": "ada", "paper_id": paper, "signal": "up"}
                try:
                    answer = client.post("/feedback", json=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append(paper)

    def reader(path: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        body = (
            {"papers": [{"title": papers[0].title, "abstract": papers[0].abstract}]}
            if path == "/score"
            else {"user": "ada", "k": 5, "mark_shown": False}
        )
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(MAX_REQUESTS):
                if stop.is_set():
                    return
                try:
                    client.post(path, json=body, headers=headers)
                except httpx.HTTPError:
                    return

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            jobs = [pool.submit(voter) for _ in range(VOTERS)]
            jobs += [pool.submit(reader, p) for p in ("/score", "/recommend", "/recommend")]
            deadline = time.monotonic() + 120
            while len(acknowledged) < KILL_AFTER_VOTES and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()  # SIGKILL to the whole process group, mid-load
            stop.set()
            for job in jobs:
                job.result(timeout=60)
    finally:
        server.stop()
    port = free_port()  # the service comes back on the same home
    again = start(
        serve_command("127.0.0.1", port), environment(home), tmp_path / "again.log",
        f"http://127.0.0.1:{port}",
    )  # fmt: skip
    again.stop()
    stored = [
        e.paper_id for e in Store(Settings(home=home)).users.feedback("ada")
        if e.source.value == "http"
    ]  # fmt: skip
    lost = [p for p in acknowledged if p not in stored]
    duplicated = [p for p in set(stored) if stored.count(p) > 1]
    Tally("kill -9 of the server under mixed load", 1, len(acknowledged), len(lost),
          len(duplicated)).record()  # fmt: skip
    assert len(acknowledged) >= 1
    assert lost == [] and duplicated == []
