"""The mixed mode of bench/service.py: /score, /recommend and /feedback together.

Eight clients on 127.0.0.1 (concurrency 8, a fixed number of requests each): three send
one-abstract /score requests, two ask /recommend for a user with 1,000 stored votes, three
vote on /feedback. Printed: p50 and p99 latency per endpoint, and the targets of issue 13
(/feedback p99 < 100 ms, /recommend p50 < 300 ms) beside the measured values. Before the
mixed load the /feedback and the /recommend clients run alone, one endpoint at a time, so
that what the mix costs shows apart from what the machine gives (mixed / alone). Each
client opens its connection (a /livez) before the clock starts, as load generators do: in
every run before that, each vote client's first vote, which opened a connection while seven
others did, was one of the three slowest votes of the run. Run it through
``python bench/service.py --mixed`` (same --home and --data as the other modes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from _load import Client  # bench/ is on sys.path when run as a script

VOTES_PER_USER = 1000
TARGET_FEEDBACK_P99_MS = 100.0
TARGET_RECOMMEND_P50_MS = 300.0
CLIENTS = {"/score": 3, "/recommend": 2, "/feedback": 3}


def prepare_user(home, name: str = "bench-mixed") -> tuple[str, list[str]]:
    """A user with ``VOTES_PER_USER`` votes on stored papers, and an admin key; returns the
    key and the ids of papers left to vote on."""
    from paperrec.config import Settings
    from paperrec.schema import FeedbackSource
    from paperrec.store import Store
    from paperrec.users.profiles import add_user

    store = Store(Settings(home=home))
    ids = [p.id for p in store.papers.iter_papers()]
    if len(ids) < VOTES_PER_USER + 200:
        raise SystemExit(f"the home holds {len(ids)} papers; the mixed mode needs 1,200")
    add_user(store, name, f"{name}@example.org")
    signals = ("up", "down", "saved", "dismissed")
    for i, pid in enumerate(ids[:VOTES_PER_USER]):
        store.users.add_feedback(name, pid, signals[i % 4], FeedbackSource.CLI)
    return store.keys.create(None), ids[VOTES_PER_USER:]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def mixed_load(
    url: str,
    key: str,
    user: str,
    rows: list[dict],
    votes: Iterator[str],
    per_client: int,
    clients: dict[str, int] = CLIENTS,
) -> dict[str, dict]:
    """Run every client to its ``per_client`` requests; latency summary per endpoint.
    ``votes`` gives the papers to vote on; ``clients`` how many clients per endpoint."""
    latencies: dict[str, list[float]] = {path: [] for path in clients}
    started: dict[str, list[float]] = {path: [] for path in clients}
    errors = dict.fromkeys(clients, 0)
    headers = {"Authorization": f"Bearer {key}"}

    def body(path: str, i: int) -> dict:
        if path == "/score":
            row = rows[i % len(rows)]
            return {"papers": [{**row, "title": f"{row['title']} mixed {i}"}]}
        if path == "/recommend":
            return {"user": user, "k": 10, "mark_shown": False}
        return {"user": user, "paper_id": next(votes), "signal": "up"}

    async def client(http: Client, path: str, offset: int) -> None:
        for i in range(per_client):
            start = time.perf_counter()
            status, ms = await http.post(path, body(path, offset + i))
            latencies[path].append(ms)
            started[path].append(start - origin)
            errors[path] += status != 200

    # Every client exists and holds its connection before the clock starts, as a load
    # generator opens its connections first: making an httpx client (it loads its
    # certificate store) blocked this event loop for 30-60 ms, which the first requests'
    # latency counted. Each client is one connection of the aiohttp generator (`_load`).
    async with contextlib.AsyncExitStack() as stack:
        jobs, https = [], []
        for path, count in clients.items():
            for n in range(count):
                https.append(await stack.enter_async_context(Client(url, 1, headers)))
                jobs.append(client(https[-1], path, n * per_client))
        opening = time.perf_counter()
        await asyncio.gather(*(http.connect() for http in https))
        print(
            f"{len(https)} connections opened before the clock "
            f"(a /livez each, all at once): {(time.perf_counter() - opening) * 1000:.0f} ms",
            flush=True,
        )
        origin = time.perf_counter()
        await asyncio.gather(*jobs)
    return {
        path: {
            "requests": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99),
            "errors": errors[path],
            "slowest": sorted(zip(ms, started[path], strict=True), reverse=True)[:3],
        }
        for path, ms in latencies.items()
    }  # fmt: skip


def report(results: dict[str, dict], alone: dict[str, dict] | None = None) -> None:
    """The mixed load's table and targets; with ``alone`` (the same clients of one endpoint
    at a time) each endpoint's p50 and p99 beside it and mixed / alone."""
    print(f"\n| mixed load, concurrency 8 | {'requests':>8} | p50 ms | p99 ms | non-200 |")
    print("|---------------------------|----------|--------|--------|---------|")
    for path, r in results.items():
        print(
            f"| {path:<25} | {r['requests']:>8} | {r['p50']:6.1f} | {r['p99']:6.1f} | "
            f"{r['errors']:>7} |"
        )
    for path, r in (alone or {}).items():
        mixed = results[path]
        print(
            f"{path} alone ({CLIENTS[path]} clients): p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f}"
            f" ms; mixed / alone: p50 {mixed['p50'] / r['p50']:.2f}, "
            f"p99 {mixed['p99'] / r['p99']:.2f}"
        )
    for path, r in results.items():
        slow = ", ".join(f"{ms:.0f} ms at {at:.1f} s" for ms, at in r["slowest"])
        print(f"slowest {path}: {slow}")
    feedback, recommend = results["/feedback"]["p99"], results["/recommend"]["p50"]
    checks = [
        (f"/feedback p99 = {feedback:.1f} ms", "< 100 ms", feedback < TARGET_FEEDBACK_P99_MS),
        (
            f"/recommend p50 ({VOTES_PER_USER} votes) = {recommend:.1f} ms",
            "< 300 ms",
            recommend < TARGET_RECOMMEND_P50_MS,
        ),
    ]
    print()
    for text, target, ok in checks:
        print(f"{text:<52} target {target:<9} {'met' if ok else 'MISSED'}")
