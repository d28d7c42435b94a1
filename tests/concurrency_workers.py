"""The processes of tests/test_store_concurrency.py (not a test module).

    python concurrency_workers.py writer N GO ACKS   papers, votes and shown papers
    python concurrency_workers.py digest DATE GO     one ``paperrec digest`` run

Each process imports paperrec first, then waits until the file GO exists, so that they all
start writing at the same moment. A writer appends one JSON line to ACKS after each write
the store has acknowledged (the call returned), never before: the test checks that every
acknowledged write is in the database afterwards. The store is the one that
PAPERREC_DATABASE_URL names.
"""

from __future__ import annotations

import datetime as dt
import json
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


def _wait(go: Path) -> None:
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
