"""In-process ``/recommend`` for a user with 1,000 votes: the service's predictor beside a
plain one, alternately, on the same store.

The service's predictor keeps paper arrays, users' profiles and the window's prepared papers
in memory (`paperrec.serving.arrays`, `.profiles`, `Predictor._window`); the plain one (the
CLI's) reads and computes everything per call. Each round casts one vote (on a stored
paper, as a digest link would) and then asks both predictors for the user's top 10, so the
service's predictor always has a vote to catch up with; the rankings must be equal. Printed:
p50 of each, their ratio, and with ``--profile`` the top of a cProfile of one call of the
service's predictor. Runs on a copy of ``--home`` (with its embedding cache, as the mixed mode
of bench/service.py does), with BLAS on one thread as in the server.

    python bench/recommend_user.py [--home DIR] [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

TARGET_MS = 300.0  # /recommend p50 for a user with 1,000 votes (issue 13, item 5)


def timed(call) -> tuple[float, list]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=os.environ.get("PAPERREC_HOME"))
    parser.add_argument("--rounds", type=int, default=10, help="votes, each followed by both")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one call")
    args = parser.parse_args()
    if args.home is None or not Path(args.home).is_dir():
        sys.exit("give --home (a PAPERREC_HOME with trained models) or set PAPERREC_HOME")
    sys.path.insert(0, str(Path(__file__).parent))
    import service as bench_service
    import service_mixed

    from paperrec.config import Settings
    from paperrec.runtime import Runtime
    from paperrec.serving.holder import PredictorHolder
    from paperrec.serving.predictor import Predictor
    from paperrec.users.profiles import record_feedback

    threadpool_limits(limits=1, user_api="blas")  # as the server (service/service.py)
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-") as tmp:
        home = bench_service.copy_home(args.home, Path(tmp) / "home", embeddings=True)
        _, to_vote = service_mixed.prepare_user(home)
        runtime = Runtime(Settings(home=home))
        serving = PredictorHolder.load(runtime).predictor
        plain = Predictor.load(runtime)
        user = "bench-mixed"
        ask = lambda predictor: lambda: predictor.recommend(user, k=10, mark_shown=False)  # noqa: E731
        cold, _ = timed(ask(serving))
        print(f"first call of the service's predictor (fills its memory): {cold:.0f} ms")
        kept_ms, plain_ms = [], []
        for paper_id in to_vote[: args.rounds]:
            record_feedback(runtime.store, user, paper_id, "up")
            ms, got = timed(ask(serving))
            kept_ms.append(ms)
            ms, expected = timed(ask(plain))
            plain_ms.append(ms)
            if [(r.id, r.score) for r in got] != [(r.id, r.score) for r in expected]:
                sys.exit("the two predictors ranked differently")
        kept, fresh = statistics.median(kept_ms), statistics.median(plain_ms)
        print(f"after each of {args.rounds} votes, p50: service's {kept:.0f} ms, ", end="")
        print(f"plain {fresh:.0f} ms; service / plain = {kept / fresh:.2f}")
        met = "met" if kept < TARGET_MS else "MISSED"
        print(f"in-process p50 {kept:.0f} ms, target for /recommend < {TARGET_MS:.0f} ms: {met}")
        if args.profile:
            record_feedback(runtime.store, user, to_vote[args.rounds], "down")
            profiler = cProfile.Profile()
            profiler.runcall(ask(serving))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
