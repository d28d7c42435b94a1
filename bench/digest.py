"""Benchmark the daily digest: 1,000 users over one day of 500 new papers, rendered, not sent.

    python bench/digest.py [--users 1000] [--papers 500] [--workers N] [--json]

What a ``paperrec digest`` run does before it talks to SMTP, through the same entry point
(`paperrec.digest.run.run_digests` with ``send=False``): compose every user's digest (the
day's papers prepared once, each user ranked by `Predictor.rank_profile`, cut by their budget,
topic tags, why-line, signed feedback links, trending), render the email (HTML + text), and
record it in the outbox. Target: under 30 s on 2 cores. Loading the models is timed on its own.

Needs a trained ranker and topic model in PAPERREC_HOME (``make demo`` trains them). The
users, their likes and the day's papers go into a temporary database (the home's store is
only read); papers are the home's, so their embeddings come from its cache. Users: 5-20
liked papers each, around a random paper (as bench/rank.py draws them); every 4th wants the
trending section, every 5th a quota of 3 papers per topic, every 7th a minimum score.
Composing runs in PAPERREC_DIGEST_WORKERS processes (default one per CPU), as in
``paperrec digest``. Peak memory is this process's peak resident set during the run
(Linux), with the models already loaded, and the largest worker's peak.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from paperrec import offline  # first: the flags are set before any model library loads

offline.set_defaults()

import numpy as np  # noqa: E402
from _memory import reset_peak_rss, rss_mib  # noqa: E402  (bench/ is on sys.path)

TARGET_SECONDS = 30.0
SECRET = "bench-digest-secret-0123456789-0123456789"


class MemorySampler:
    """Peak resident memory of this process plus its children (the worker processes),
    sampled from /proc every 0.2 s while the run goes on."""

    def __init__(self):
        self.peak_total_mib = 0.0
        self.peak_child_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            children = [_status_mib(pid, "VmRSS") or 0.0 for pid in _children()]
            total = (rss_mib("VmRSS") or 0.0) + sum(children)
            self.peak_total_mib = max(self.peak_total_mib, total)
            self.peak_child_mib = max([self.peak_child_mib, *children])


def _children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def _status_mib(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def load(home: Path):
    """Settings on a fresh temporary database; the models and cache from ``home``."""
    from paperrec.config import Settings
    from paperrec.errors import ModelNotTrainedError
    from paperrec.runtime import Runtime
    from paperrec.serving.predictor import Predictor

    source = Runtime(Settings(home=home))
    papers = source.store.papers.iter_papers()
    workdir = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    settings = Settings(
        home=home, database_url=f"sqlite:///{workdir / 'bench.sqlite'}",
        token_secret=SECRET, public_url="https://papers.example.org",
    )  # fmt: skip
    runtime = Runtime(settings)
    started = time.perf_counter()
    try:
        predictor = Predictor.load(runtime)
    except ModelNotTrainedError as exc:
        sys.exit(
            f"bench/digest.py needs a trained ranker and topic model in PAPERREC_HOME={home}: "
            f"{exc}\nRun `make demo` first, or point PAPERREC_HOME at a home that has them."
        )
    return runtime, predictor, papers, time.perf_counter() - started, workdir


def stock(runtime, papers, n_papers: int, n_users: int, day: dt.date, seed: int) -> list[str]:
    """The day's papers, a pool of older ones, users who like some of the pool and a week
    of likes across users (for trending). Returns the user names."""
    from paperrec.digest.budget import DigestSettings
    from paperrec.schema import FeedbackSource, Signal

    if len(papers) < n_papers + 200:
        sys.exit(f"the store holds {len(papers)} papers; the benchmark needs {n_papers + 200}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(papers))
    new = [dataclasses.replace(papers[i], date=day) for i in order[:n_papers]]
    old = day - dt.timedelta(days=60)
    pool = [dataclasses.replace(papers[i], date=old) for i in order[n_papers:]]
    store = runtime.store
    store.papers.upsert(new + pool, source="bench")
    X = runtime.embedder.embed(pool)
    names = []
    for u in range(n_users):
        size = int(rng.integers(5, 21))
        liked = np.argpartition(-(X @ X[int(rng.integers(len(pool)))]), size)[:size]
        name = f"user{u:04d}"
        store.users.add(name, f"{name}@example.org", seeds=[pool[i].id for i in liked])
        budget = DigestSettings(
            trending=u % 4 == 0,
            topic_quota={"*": 3} if u % 5 == 0 else {},
            min_score=0.0 if u % 7 == 0 else None,
        )
        store.users.set_digest_settings(name, budget)
        for i in rng.choice(len(pool), size=2, replace=False):  # likes for trending
            store.users.add_feedback(name, pool[i].id, Signal.UP, FeedbackSource.DIGEST)
        names.append(name)
    return names


def run(runtime, predictor, names: list[str], day: dt.date) -> dict:
    """Compose, render and record every user's digest, as ``paperrec digest`` does
    (`paperrec.digest.run.run_digests`), without sending; wall and CPU seconds."""
    from paperrec.digest.run import Composed, run_digests

    counts: dict[str, int] = {}
    items = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for event in run_digests(runtime, names, day, send=False, predictor=predictor):
        if isinstance(event, Composed):
            counts[event.planned.status] = counts.get(event.planned.status, 0) + 1
            if event.planned.status == "ready":
                items += len(event.planned.content.items)
    return {
        "wall": time.perf_counter() - wall0, "cpu": time.process_time() - cpu0,
        "counts": counts, "papers_in_digests": items,
        "workers": runtime.settings.resolved_digest_workers,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=None,
        help="composing processes (default: PAPERREC_DIGEST_WORKERS, 0 = one per CPU)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    from paperrec.config import Settings

    if args.workers is not None:
        os.environ["PAPERREC_DIGEST_WORKERS"] = str(args.workers)
    home = Settings().home
    runtime, predictor, papers, load_seconds, workdir = load(home)
    try:
        result = measure(runtime, predictor, papers, args, load_seconds)
    finally:
        runtime.store.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    result["home"] = str(home)
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        report(result)
    return result


def measure(runtime, predictor, papers, args, load_seconds: float) -> dict:
    """Stock the temporary store, then time one run over every user."""
    day = runtime.settings.today()
    print(f"stocking {args.users} users and {args.papers} papers...", file=sys.stderr)
    names = stock(runtime, papers, args.papers, args.users, day, args.seed)
    resettable = reset_peak_rss()
    rss_before = rss_mib("VmRSS")
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with MemorySampler() as memory:
        result = run(runtime, predictor, names, day)
    total = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    result.update(
        cpus=os.cpu_count(), users=len(names), papers=args.papers,
        load_models_seconds=round(load_seconds, 2), total_seconds=round(total, 2),
        target_seconds=TARGET_SECONDS, within_target=total < TARGET_SECONDS,
        rss_before_mib=rss_before, peak_rss_mib=rss_mib("VmHWM"),
        peak_total_mib=memory.peak_total_mib, peak_worker_mib=memory.peak_child_mib,
        worker_cpu_seconds=round(worker_cpu, 2),
        peak_is_for_the_run=resettable, load_average=round(os.getloadavg()[0], 1),
    )  # fmt: skip
    return result


def report(r: dict) -> None:
    w, c = r["wall"], r["cpu"]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(r["counts"].items()))
    peak = f"{r['peak_rss_mib']:.0f} MiB" if r["peak_rss_mib"] else "n/a"
    print(
        "\n".join(
            [
                f"PAPERREC_HOME={r['home']}  cpus={r['cpus']}  models loaded in "
                f"{r['load_models_seconds']:.1f} s (not counted)",
                f"{r['users']} users x {r['papers']} new papers, one day: {counts}; "
                f"{r['papers_in_digests']} papers in the digests",
                f"  compose, render the email and record it in the outbox: {w:.2f} s (CPU "
                f"here {c:.2f} s, in worker processes {r['worker_cpu_seconds']:.2f} s; "
                f"{r['workers']} allowed)",
                f"  total {r['total_seconds']:.2f} s ({1000 * r['total_seconds'] / r['users']:.1f} "
                f"ms/user); target < {r['target_seconds']:.0f} s: "
                + ("met" if r["within_target"] else "MISSED"),
                f"  memory: resident {r['rss_before_mib']:.0f} MiB with the models loaded, "
                f"peak {peak} during the run"
                + ("" if r["peak_is_for_the_run"] else " (peak since process start)")
                + (
                    f"; with the worker processes (largest {r['peak_worker_mib']:.0f} MiB) "
                    f"{r['peak_total_mib']:.0f} MiB in all"
                    if r["peak_worker_mib"]
                    else ""
                ),
                f"  load average at the end {r['load_average']} (other processes share the CPUs)",
            ]
        )
    )


if __name__ == "__main__":
    main()
