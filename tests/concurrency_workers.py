"""The processes of the concurrency tests on PostgreSQL (tests/test_store_concurrency.py,
tests/test_service_workers.py), and what those tests share (not a test module).

    python concurrency_workers.py writer N GO ACKS   papers, votes and shown papers
    python concurrency_workers.py digest DATE GO     one ``paperrec digest`` run

Each process imports paperrec first, says it is ready (a file GO.ready.PID, see `ready`),
then waits until the file GO exists, so that they all start writing at the same moment. A
writer appends one JSON line to ACKS after each write the store has acknowledged (the call
returned), never before: `check_acknowledged` checks that every acknowledged write is in
the database afterwards. The store is the one that PAPERREC_DATABASE_URL names.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 12
BATCH = 4
USERS = [f"reader{i:02d}" for i in range(12)]


def shared_papers(round_: int):
    """The papers of one round: the same ids in every writer, so writers race on them."""
    from paperrec.schema import Paper

    return [
        Paper.create(
            f"Concurrent paper {round_}-{k}",
            f"Written by several processes at once, round {round_}, paper {k}.",
            id=f"2405.{round_ * BATCH + k:05d}v1",
            date=dt.date(2024, 5, 1),
        )
        for k in range(BATCH)
    ]


def spawn(*args: str, env: dict) -> subprocess.Popen:
    """This script as a process of its own (``args``: a role and its arguments)."""
    here = Path(__file__)
    return subprocess.Popen(
        [sys.executable, str(here), *args], env=env, cwd=here.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def ready(go: Path, processes: int, timeout: float = 120) -> None:
    """Wait until ``processes`` processes wait for ``go``."""
    deadline = time.monotonic() + timeout
    while len(list(go.parent.glob(f"{go.name}.ready.*"))) < processes:
        assert time.monotonic() < deadline, "the processes never got ready"
        time.sleep(0.05)


def outbox_entry(user: str, date: dt.date):
    """A digest recorded in the outbox for ``user`` and ``date``, as a run records one."""
    from paperrec.store import NewEntry

    return NewEntry(
        user=user, date=date, kind="digest", email=f"{user}@example.org",
        subject=f"digest for {user}", html=f"<p>{user}</p>", text=user,
        paper_ids=("2404.00000", "2404.00001"), message_id=f"<{user}.{date}@example.org>",
    )  # fmt: skip


def _wait(go: Path) -> None:
    go.with_name(f"{go.name}.ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the test never said go")
        time.sleep(0.01)


def writer(number: int, go: Path, acks: Path) -> None:
    from paperrec.config import Settings
    from paperrec.store import Store

    store = Store(Settings())
    store.engine  # noqa: B018  (connect before the start, not in the race)
    source = f"writer-{number}"
    _wait(go)
    with acks.open("a", encoding="utf-8") as out:

        def ack(**fields) -> None:
            out.write(json.dumps(fields) + "\n")
            out.flush()

        for round_ in range(ROUNDS):
            batch = shared_papers(round_)
            ids = store.papers.upsert(batch, source).ids
            ack(kind="papers", source=source, ids=ids)
            for k, paper_id in enumerate(ids):
                user = USERS[(round_ + k + number) % len(USERS)]
                event = store.users.add_feedback(user, paper_id, "up", "cli")
                ack(kind="vote", user=user, paper=paper_id, at=event.created_at.isoformat())
            user = USERS[(round_ + number) % len(USERS)]
            # the papers of the users' digests too: the digest runs mark them shown at once
            shown = [*ids, "2404.00000", "2404.00001"]
            store.users.mark_shown(user, shown)
            ack(kind="shown", user=user, ids=shown)


def check_acknowledged(store, acks: Path, writers: int) -> None:
    """Every write the writer processes saw acknowledged (their ACKS file) is in ``store``:
    papers with their sources, votes with their times, papers shown, each once."""
    from sqlalchemy import func, select

    from paperrec.store.db import feedback, paper_sources, shown, users

    written = [json.loads(line) for line in acks.read_text(encoding="utf-8").splitlines()]
    votes = [w for w in written if w["kind"] == "vote"]
    assert len(votes) == writers * ROUNDS * BATCH
    with store.engine.connect() as conn:
        sources = set(conn.execute(select(paper_sources)).tuples())
        stored_votes = conn.execute(
            select(users.c.name, feedback.c.paper_id, feedback.c.created_at)
            .select_from(feedback.join(users, users.c.id == feedback.c.user_id))
            .where(feedback.c.source == "cli")
        ).tuples()
        seen = set(
            conn.execute(
                select(users.c.name, shown.c.paper_id).select_from(
                    shown.join(users, users.c.id == shown.c.user_id)
                )
            ).tuples()
        )
        duplicates = conn.execute(
            select(func.count()).select_from(
                select(shown.c.user_id, shown.c.paper_id)
                .group_by(shown.c.user_id, shown.c.paper_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    for w in written:
        if w["kind"] == "papers":
            assert {(pid, w["source"]) for pid in w["ids"]} <= sources
        elif w["kind"] == "shown":
            assert {(w["user"], pid) for pid in w["ids"]} <= seen
    assert sorted((v["user"], v["paper"], v["at"]) for v in votes) == sorted(
        (name, pid, at) for name, pid, at in stored_votes
    )
    assert duplicates == 0


def digest(date: str, go: Path) -> None:
    from paperrec.cli import app

    _wait(go)
    app(["digest", "--date", date], standalone_mode=False)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "writer":
        writer(int(args[0]), Path(args[1]), Path(args[2]))
    elif role == "digest":
        digest(args[0], Path(args[1]))
    else:
        raise SystemExit(f"unknown role {role!r}; available: writer, digest")
