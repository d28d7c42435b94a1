"""Votes from several threads of one process into the SQLite store, three ways, alternately,
on fresh stores of the same papers: votes that arrive together sharing one commit
(`paperrec.store.group_commit`, what the store does), one commit per vote with writers taking
turns at a lock (`paperrec.store.turns`, what it did before), and one commit per vote in
SQLite's busy handler alone (before that).

Each round: THREADS threads each record VOTES votes (`paperrec.users.profiles.record_feedback`,
the code path of the service's /feedback) as fast as they can. Printed per variant: p50, p99
and the longest vote, and each p99 against group commit's. The service's target is /feedback p99
< 100 ms over HTTP (issue 13); this is the store's share of it.

    python bench/store_writes.py [--threads 3] [--votes 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
POOL = SHARED / "data" / "arxiv_pool.jsonl"
PAPERS = 300


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fresh_store(folder: Path):
    """A store with PAPERS pool papers and one user, in ``folder``."""
    from paperrec.config import Settings
    from paperrec.papers.ingest import ingest_paths
    from paperrec.store import Store
    from paperrec.users.profiles import add_user

    source = folder / "pool.jsonl"
    with POOL.open(encoding="utf-8") as pool, source.open("w", encoding="utf-8") as out:
        out.writelines(itertools.islice(pool, PAPERS))
    store = Store(Settings(home=folder / "home"))
    ingest_paths(store.papers, [source])
    add_user(store, "bench", "bench@example.org")
    ids = [json.loads(line)["id"] for line in source.open(encoding="utf-8")]
    return store, ids


def votes(store, ids: list[str], threads: int, per_thread: int) -> list[float]:
    """Milliseconds of each vote, THREADS threads voting at once."""
    from paperrec.users.profiles import record_feedback

    times: list[float] = []
    start = threading.Barrier(threads)

    def voter(offset: int) -> None:
        start.wait()
        for i in range(per_thread):
            paper = ids[(offset + i) % len(ids)]
            began = time.perf_counter()
            record_feedback(store, "bench", paper, "up", "http")
            times.append((time.perf_counter() - began) * 1000)

    workers = [threading.Thread(target=voter, args=(n * 97,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=3, help="voting threads (3 = the bench's clients)"
    )
    parser.add_argument("--votes", type=int, default=150, help="votes per thread and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not POOL.is_file():
        sys.exit(f"no pool at {POOL} (set PAPERREC_SHARED_DIR)")
    from paperrec.store import db
    from paperrec.store.group_commit import GroupCommit
    from paperrec.store.turns import TakingTurns

    class CommitEach(GroupCommit):
        """Every vote its own transaction and commit (the store before group commit)."""

        def insert(self, values: dict) -> None:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), [values])

    variants = {  # name: (sqlite3 connection class, votes' writer)
        "group commit": (TakingTurns, GroupCommit),
        "taking turns": (TakingTurns, CommitEach),
        "busy handler": (sqlite3.Connection, CommitEach),
    }
    found: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (connection, writer) in variants.items():
            db.TakingTurns = connection  # the class open_engine connects with
            with tempfile.TemporaryDirectory(prefix="paperrec-writes-") as tmp:
                store, ids = fresh_store(Path(tmp))
                store.users._votes = writer(store.engine, db.feedback)
                found[name] += votes(store, ids, args.threads, args.votes)
                store.engine.dispose()
    db.TakingTurns = TakingTurns
    print(f"{args.threads} threads x {args.votes} votes x {args.rounds} rounds, load "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    for name, ms in found.items():
        print(
            f"{name:>13}: p50 {statistics.median(ms):6.2f} ms  p99 {percentile(ms, 0.99):7.2f} ms"
            f"  max {max(ms):7.2f} ms  ({len(ms)} votes)"
        )
    grouped = percentile(found["group commit"], 0.99)
    for name in ("taking turns", "busy handler"):
        print(f"p99 {name} / group commit: {percentile(found[name], 0.99) / grouped:.2f}x")


if __name__ == "__main__":
    main()
