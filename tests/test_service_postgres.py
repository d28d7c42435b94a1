"""The HTTP service on PostgreSQL, one round trip: a real ``bentoml serve`` on 127.0.0.1
whose store is a PostgreSQL copy of the trained home's. API keys are checked against the
PostgreSQL rows, a vote is stored there and the next recommendation leaves the paper out.
(tests/test_service.py runs the whole service suite on SQLite.)"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from paperrec.serving.process import free_port
from service_helpers import copy_home, environment, start

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database", ["postgresql"], indirect=True)]


def test_a_vote_through_the_service_is_stored_in_postgres_and_seen(
    trained_home, session_cache, tmp_path, database_url
):
    from paperrec.config import Settings
    from paperrec.serving.process import serve_command
    from paperrec.store import Store
    from paperrec.store.db import feedback
    from paperrec.store.transfer import copy_store
    from paperrec.users.profiles import add_user

    home = copy_home(trained_home, tmp_path / "home", session_cache.path)
    copy_store(Settings(home=home).resolved_database_url, database_url)
    (home / "paperrec.sqlite").unlink()  # nothing left to read by mistake
    store = Store(Settings(home=home, database_url=database_url))
    stored = [p.id for p in store.papers.iter_papers() if p.date is not None]
    add_user(store, "bob", "bob@example.org", seeds=[stored[3]])
    key = store.keys.create("bob")
    port = free_port()
    env = environment(home, PAPERREC_DATABASE_URL=database_url)
    server = start(
        serve_command("127.0.0.1", port), env, tmp_path / "server.log", f"http://127.0.0.1:{port}"
    )
    body, auth = {"user": "bob", "k": 5, "mark_shown": False}, {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            refused = client.post("/recommend", json=body, headers={"Authorization": "Bearer x"})
            before = client.post("/recommend", json=body, headers=auth)
            assert before.status_code == 200, before.text
            top = before.json()["results"][0]["id"]
            vote = {"user": "bob", "paper_id": top, "signal": "dismissed"}
            voted = client.post("/feedback", json=vote, headers=auth)
            after = client.post("/recommend", json=body, headers=auth)
    finally:
        server.stop()
    assert refused.status_code == 401
    assert voted.status_code == 200, voted.text
    assert after.status_code == 200 and len(after.json()["results"]) == 5
    assert top not in [r["id"] for r in after.json()["results"]]
    with store.engine.connect() as conn:
        rows = conn.execute(select(feedback.c.paper_id, feedback.c.signal, feedback.c.source))
        assert (top, "dismissed", "http") in set(rows.tuples())
    assert store.keys.of("bob")[0].last_used_at is not None
    store.engine.dispose()
