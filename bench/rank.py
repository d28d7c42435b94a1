"""Benchmark ranking: one profile against 2,000 candidates, and 1,000 users in one batch.

    python bench/rank.py [--candidates N] [--users N] [--repeats N] [--batch-repeats N] [--json]

(a) ``Recommender.rank`` for one profile of 10 liked papers over 2,000 candidates, with
    every embedding already cached: median time per call over ``--repeats`` calls and the
    peak memory of one call.
(b) 1,000 users x 2,000 candidates: the candidates are prepared once
    (``Recommender.prepare``), the liked papers' arrays are computed once, then every
    profile (5-20 liked papers from the pool, around a random paper) is scored with
    ``Recommender.score_profiles`` (``score_candidates`` for many users at once) and its
    top 10 taken. Target: under 10 s on 2 cores for preparing the candidates and scoring
    the profiles; building the liked papers' arrays (TF-IDF rows and topic probabilities,
    the same stored papers every day) is timed and reported on its own.

Needs a trained ranker in PAPERREC_HOME (``make demo`` trains one). Candidates and pool are
papers of that store, drawn with a fixed seed; nothing is written to the home except
embeddings of papers not cached yet.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from _memory import reset_peak_rss, rss_mib  # bench/ is on sys.path when run as a script

MIB = 1024 * 1024
TARGET_SECONDS = 10.0


def _peak_rss_mib() -> float:
    peak = rss_mib("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak


def measure_memory(call: Callable[[], object]) -> dict:
    """Peak memory of one call: Python/numpy allocations (tracemalloc) and, on Linux, the
    process's peak resident set during the call (includes LightGBM's native memory)."""
    gc.collect()
    resettable = reset_peak_rss()
    tracemalloc.start()
    call()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "traced_peak_mib": round(traced_peak / MIB, 1),
        "process_peak_rss_mib": round(_peak_rss_mib(), 1),
        "rss_peak_is_for_this_call": resettable,
    }


def load(home_hint: str):
    from paperrec.errors import ModelNotTrainedError
    from paperrec.runtime import Runtime
    from paperrec.serving.predictor import Predictor

    runtime = Runtime()
    try:
        predictor = Predictor.load(runtime)
    except ModelNotTrainedError as exc:
        sys.exit(
            f"bench/rank.py needs a trained ranker in PAPERREC_HOME={home_hint}: {exc}\n"
            "Run `make demo` first (it trains and promotes one), or point PAPERREC_HOME at a "
            "home that has one."
        )
    return runtime, predictor


def draw_profiles(X: np.ndarray, n_users: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Each profile: the 5-20 pool papers nearest a random pool paper (indices into X)."""
    profiles = []
    for _ in range(n_users):
        size = int(rng.integers(5, 21))
        anchor = int(rng.integers(len(X)))
        profiles.append(np.argpartition(-(X @ X[anchor]), size)[:size])
    return profiles


def bench_single(rec, liked, candidates, repeats: int) -> dict:
    rec.rank(liked, candidates, k=10)  # warm-up: caches embeddings, loads what is lazy
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        rec.rank(liked, candidates, k=10)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "liked": len(liked),
        "candidates": len(candidates),
        "repeats": repeats,
        "median_seconds": round(statistics.median(times), 4),
        "min_seconds": round(min(times), 4),
        "median_cpu_seconds": round(statistics.median(cpu), 4),
        "memory": measure_memory(lambda: rec.rank(liked, candidates, k=10)),
    }


class Clock:
    """Wall and process CPU seconds per named step (CPU > wall: threads at work; CPU much
    less than wall: the machine is busy with something else)."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._last = (time.perf_counter(), time.process_time())
        self._start = self._last

    def lap(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[name] = round(now[0] - self._last[0], 3)
        self.cpu[name] = round(now[1] - self._last[1], 3)
        self._last = now

    def total(self) -> None:
        self.wall["total"] = round(self._last[0] - self._start[0], 3)
        self.cpu["total"] = round(self._last[1] - self._start[1], 3)


def run_batch(rec, embedder, candidates, pool, profiles) -> dict:
    """One batch: prepare the candidates, build every profile from the arrays of the liked
    papers (computed once), score all profiles, take each one's top 10."""
    from paperrec.recommend.corpus import Corpus

    clock = Clock()
    prepared = rec.prepare(candidates)
    clock.lap("prepare_candidates")
    used = np.unique(np.concatenate(profiles))
    papers = [pool[i] for i in used]
    X = embedder.embed(papers)
    topics = (
        rec.topic_model.predict_proba(X).astype(np.float32)
        if rec.topic_model
        else np.zeros((len(X), 0), np.float32)
    )
    liked = Corpus(papers, X, rec.model.lexical.transform(papers), topics, np.arange(len(papers)))
    clock.lap("liked_paper_arrays")
    none = np.zeros(0, dtype=int)
    arrays = [liked.profile(np.searchsorted(used, members), none) for members in profiles]
    clock.lap("profiles")
    scores = rec.score_profiles(arrays, prepared)
    best = np.argpartition(-scores, 10, axis=1)[:, :10]
    top = np.take_along_axis(
        best, np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1), axis=1
    )
    clock.lap("score_profiles")
    clock.total()
    return {"wall": clock.wall, "cpu": clock.cpu, "top": top, "distinct_liked": len(used)}


def batch_seconds(wall: dict) -> float:
    """What the target is about: preparing the candidates and scoring every profile."""
    return wall["prepare_candidates"] + wall["profiles"] + wall["score_profiles"]


def bench_batch(rec, embedder, candidates, pool, profiles, repeats: int) -> dict:
    run_batch(rec, embedder, candidates, pool, profiles[:5])  # warm-up
    runs = [run_batch(rec, embedder, candidates, pool, profiles) for _ in range(repeats)]
    result = sorted(runs, key=lambda r: batch_seconds(r["wall"]))[len(runs) // 2]  # median
    memory = measure_memory(lambda: run_batch(rec, embedder, candidates, pool, profiles))
    wall = result["wall"]
    batch = batch_seconds(wall)
    return {
        "users": len(profiles),
        "candidates": len(candidates),
        "liked_per_user": [int(min(map(len, profiles))), int(max(map(len, profiles)))],
        "distinct_liked_papers": result["distinct_liked"],
        "repeats": repeats,
        "wall_seconds": wall,
        "cpu_seconds": result["cpu"],
        "batch_seconds": round(batch, 3),
        "batch_seconds_all_runs": [round(batch_seconds(r["wall"]), 3) for r in runs],
        "per_user_ms": round(1000 * wall["score_profiles"] / len(profiles), 2),
        "target_seconds": TARGET_SECONDS,
        "within_target": batch < TARGET_SECONDS,
        "memory": memory,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="calls of (a)")
    parser.add_argument("--batch-repeats", type=int, default=3, help="runs of (b); median shown")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    home = os.environ.get("PAPERREC_HOME", "(default)")
    runtime, predictor = load(home)
    rec = predictor.recommender()
    papers = runtime.store.papers.iter_papers()
    if len(papers) < args.candidates + 100:
        sys.exit(
            f"the store holds {len(papers)} papers; the benchmark needs {args.candidates + 100}"
        )
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(papers))
    candidates = [papers[i] for i in order[: args.candidates]]
    pool = [papers[i] for i in order[args.candidates :]]
    print(f"embedding {len(papers)} papers (cached after the first run)...", file=sys.stderr)
    pool_X = runtime.embedder.embed(pool)
    runtime.embedder.embed(candidates)
    profiles = draw_profiles(pool_X, args.users, rng)
    anchor = pool_X[int(rng.integers(len(pool)))]
    liked = [pool[i] for i in np.argpartition(-(pool_X @ anchor), 10)[:10]]

    result = {
        "home": home,
        "cpus": os.cpu_count(),
        "ranker_threads": rec.model.ranker.n_jobs,
        "versions": predictor.versions,
        "single_profile": bench_single(rec, liked, candidates, args.repeats),
        "batch": bench_batch(rec, runtime.embedder, candidates, pool, profiles, args.batch_repeats),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return result


def report(result: dict) -> None:
    single, batch = result["single_profile"], result["batch"]
    one, w, c, m = single["memory"], batch["wall_seconds"], batch["cpu_seconds"], batch["memory"]
    cpu_batch = batch_seconds(c)
    lines = [
        f"PAPERREC_HOME={result['home']}  cpus={result['cpus']}  "
        f"ranker threads={result['ranker_threads']}",
        f"(a) one profile ({single['liked']} liked) x {single['candidates']} candidates, "
        f"embeddings cached: median {single['median_seconds'] * 1000:.0f} ms per call "
        f"over {single['repeats']} (min {single['min_seconds'] * 1000:.0f} ms, "
        f"CPU {single['median_cpu_seconds'] * 1000:.0f} ms)",
        f"    peak memory of one call: {one['traced_peak_mib']} MiB traced, "
        f"process peak RSS {one['process_peak_rss_mib']} MiB",
        f"(b) {batch['users']} users ({batch['liked_per_user'][0]}-{batch['liked_per_user'][1]} "
        f"liked, {batch['distinct_liked_papers']} distinct papers) x {batch['candidates']} "
        "candidates:",
        f"    prepare candidates {w['prepare_candidates']:.2f} s + profiles {w['profiles']:.2f} s "
        f"+ scoring {w['score_profiles']:.2f} s ({batch['per_user_ms']} ms/user) "
        f"= {batch['batch_seconds']:.2f} s (median of {batch['repeats']}: "
        f"{', '.join(f'{t:.2f}' for t in batch['batch_seconds_all_runs'])}); "
        f"target < {batch['target_seconds']:.0f} s: "
        + ("met" if batch["within_target"] else "MISSED"),
        f"    process CPU for those steps: {cpu_batch:.2f} s (wall near CPU / 2 on two free cores)",
        f"    + liked papers' arrays (TF-IDF, topic model; cacheable per paper) "
        f"{w['liked_paper_arrays']:.2f} s -> {w['total']:.2f} s in all, "
        f"process CPU {c['total']:.2f} s",
        f"    peak memory of the batch: {m['traced_peak_mib']} MiB traced, "
        f"process peak RSS {m['process_peak_rss_mib']} MiB",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
