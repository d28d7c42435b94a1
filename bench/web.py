"""Benchmark the web app's three hot paths, side by side in one run, on the full pool.

    python bench/web.py [--home PATH] [--models HOME] [--repeats N] [--json] [--profile]

Copies an embedded home holding the full pool (default /tmp/home-shared, used once its
READY file exists; nothing is written into it), trains small topic and ranking models on
the copy when it has none, adds a reader with 50 liked papers, and measures in process
(the ASGI app, no network):

- Today: a warm ``GET /`` for that reader over a window of about 500 candidates
  (target p50 < 200 ms), and the first Today after a vote, at once and after a pause of
  `READ_PAUSE` (the ranking is redone after each vote);
- search: ``GET /search?q=...`` for words of stored titles, over every stored paper
  (target p50 < 150 ms);
- a vote: ``POST /u/NAME/vote`` as the page's script sends it (target p50 < 50 ms).

Prints each p50 beside its target and their ratio; ``--profile`` adds the top of a cProfile
of one warm Today, one search and one vote. Times are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TARGETS_MS = {"today": 200.0, "search": 150.0, "vote": 50.0}
LIKED = 50
CANDIDATES = 500
SECRET = "bench-web-secret-0123456789abcdef"
READ_PAUSE = 1.0  # seconds between a vote and the next Today, for half of the votes


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(call, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def copy_home(source: Path, target: Path) -> Path:
    import sqlite3

    target.mkdir(parents=True)
    for name in ("paperrec.sqlite", "embeddings.sqlite"):
        with sqlite3.connect(source / name) as src, sqlite3.connect(target / name) as dst:
            src.backup(dst)  # consistent, and never writes into the source
    return target


def train(runtime, shared: Path) -> None:
    from paperrec.train.ranker_fit import RankerTrainingConfig
    from paperrec.train.ranker_run import train_ranker
    from paperrec.train.topics_fit import TopicTrainingConfig
    from paperrec.train.topics_run import train_topics

    pages = sorted((shared / "seeds").glob("*.txt"))
    train_topics(runtime, config=TopicTrainingConfig(classifier={"n_estimators": 40}))
    train_ranker(runtime, pages=pages, config=RankerTrainingConfig(repeats=1), draws=1)


def window_near(store, size: int) -> tuple[dt.date, int, int]:
    """(end date, days, papers) of the 1- or 7-day window closest to ``size`` papers."""
    by_date = {d: n for d, n in store.papers.stats()["by_date"].items() if d != "unknown"}
    dates = sorted(dt.date.fromisoformat(d) for d in by_date)
    best = None
    for end in dates:
        for days in (1, 7):
            n = sum(by_date.get((end - dt.timedelta(days=i)).isoformat(), 0) for i in range(days))
            if best is None or abs(n - size) < abs(best[2] - size):
                best = (end, days, n)
    return best


def profile_paths(context, end: dt.date, days: int, query: str, paper_id: str) -> None:
    """The top of a cProfile of what each handler calls (the app's threads are not seen by a
    profiler of the client's): a warm Today, a search, a vote and the Today after it."""
    from paperrec.users.profiles import record_feedback

    calls = {
        "warm Today": lambda: context.feed.page("reader", until=end, days=days),
        "search": lambda: context.catalog.search(query),
        "vote": lambda: record_feedback(context.runtime.store, "reader", paper_id, "saved"),
        "first Today after a vote": lambda: context.feed.page("reader", until=end, days=days),
    }
    for name, call in calls.items():
        print(f"\n=== cProfile: {name} ===")
        profiler = cProfile.Profile()
        profiler.runcall(call)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/home-shared"))
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--models", type=Path, default=None,
        help="a trained home whose champion topics and ranker to use instead of training on "
        "the copy (its exported champions and MLflow store are copied; nothing is written there)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each path")
    args = parser.parse_args()
    if not (args.home / "READY").exists():
        sys.exit(
            f"{args.home} is not ready (no READY file): build the embedded full-pool home first"
        )
    from starlette.testclient import TestClient

    from paperrec.config import Settings
    from paperrec.runtime import Runtime
    from paperrec.serving.holder import PredictorHolder
    from paperrec.web import attach, create_app

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        home = copy_home(args.home, work / "home")
        settings = Settings(home=home, token_secret=SECRET, reload_interval=0)
        runtime = Runtime(settings)
        store = runtime.store
        started = time.perf_counter()
        if args.models is not None:
            shutil.copy(args.models / "mlflow.sqlite", home / "mlflow.sqlite")
            shutil.copytree(args.models / "champions", home / "champions")  # what serving loads
        else:
            train(runtime, args.shared)
        train_seconds = time.perf_counter() - started
        end, days, n_window = window_near(store, CANDIDATES)
        rng = random.Random(0)
        pool = [p for p in store.papers.iter_papers(until=end - dt.timedelta(days=days))]
        liked = [p.id for p in rng.sample(pool, LIKED)]
        from paperrec.users.profiles import add_user

        add_user(store, "reader", "reader@example.org", seeds=liked)
        key = store.keys.create("reader")
        app = create_app()
        context = attach(app, runtime, PredictorHolder.load(runtime))
        client = TestClient(app, base_url="http://bench")
        page = client.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        client.post("/signin/key", data={"csrf": csrf, "key": key}, follow_redirects=False)
        today_url = f"/?date={end}&days={days}"
        first = timed(lambda: client.get(today_url), 1)  # cold: window prepared, ranked
        body = client.get(today_url).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
        today = timed(lambda: client.get(today_url), args.repeats)
        cards = re.findall(r'<li class="card" id="paper-\d+" data-paper="([^"]+)"', body)
        votes, after_vote, after_pause = [], [], []
        for i, paper_id in enumerate(cards[: min(len(cards), max(2, args.repeats // 2))]):
            votes += timed(lambda pid=paper_id: client.post(
                "/u/reader/vote", data={"csrf": csrf, "paper": pid, "signal": "saved"},
                headers={"accept": "application/json"}), 1)  # fmt: skip
            if i % 2:  # the reader reads on for a moment before the next Today
                time.sleep(READ_PAUSE)
                after_pause += timed(lambda: client.get(today_url), 1)
            else:
                after_vote += timed(lambda: client.get(today_url), 1)
        titles = [p.title for p in rng.sample(pool, args.repeats)]
        queries = [" ".join(t.split()[:4]) for t in titles]
        client.get("/search", params={"q": queries[0]})  # builds the paper index once
        search = []
        for q in queries:
            search += timed(lambda q=q: client.get("/search", params={"q": q}), 1)
        if args.profile:
            profile_paths(context, end, days, queries[-1], cards[len(votes)])
        results = {
            "papers": store.papers.count(),
            "window": {"end": end.isoformat(), "days": days, "papers": n_window},
            "liked": LIKED,
            "train_seconds": round(train_seconds, 1),
            "today_cold_ms": round(first[0] * 1000, 1),
            "today_after_vote_p50_ms": round(p50(after_vote), 1),
            "today_after_vote_and_pause_p50_ms": round(p50(after_pause), 1),
            "p50_ms": {
                "today": round(p50(today), 1),
                "search": round(p50(search), 1),
                "vote": round(p50(votes), 1),
            },
        }
        results["ratio_to_target"] = {
            k: round(results["p50_ms"][k] / TARGETS_MS[k], 2) for k in TARGETS_MS
        }
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print(
                f"{results['papers']} papers; Today window {end} ({days} d, {n_window} papers); "
                f"reader with {LIKED} liked papers; models trained in {train_seconds:.0f} s"
            )
            for k, target in TARGETS_MS.items():
                got = results["p50_ms"][k]
                verdict = "met" if got < target else "MISSED"
                print(
                    f"  {k:7s} p50 {got:7.1f} ms   target < {target:.0f} ms   ratio "
                    f"{got / target:.2f}  {verdict}"
                )
            print(
                f"  Today cold (window prepared and ranked): {results['today_cold_ms']:.0f} ms; "
                f"first Today after a vote p50 {results['today_after_vote_p50_ms']:.0f} ms at "
                f"once, {results['today_after_vote_and_pause_p50_ms']:.0f} ms after a "
                f"{READ_PAUSE:g} s pause"
            )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
