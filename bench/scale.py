"""Backfill in one process vs on Ray, side by side in one run on the same papers.

Both sides run `paperrec.bulk.backfill.backfill` (ingest, embed, score) on the same
``--papers`` abstracts of the shared pool into a new home with an empty embedding cache:
first in this process (torch on every core), then on a Ray started here with one actor per
core (``ray.init(num_cpus=CORES)``), so both use the same cores. Prints the wall times,
the Ray/one-process ratio (issue 17's target: <= 1.15) with and without Ray's start-up,
and the abstracts per second per core that each implies. Scores with the champion topic
model of ``--home`` (default $PAPERREC_HOME); without one it embeds only, and says so.

    python bench/scale.py [--home DIR] [--papers 2000] [--shard-size 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.15


def _slice(shared: Path, target: Path, n: int) -> Path:
    with (shared / "data" / "arxiv_pool.jsonl").open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(n), source, strict=False)]
    target.write_text("".join(lines), encoding="utf-8")
    return target


def _runtime(home: Path):
    from paperrec.config import Settings
    from paperrec.runtime import Runtime

    return Runtime(Settings(home=home))


def _run(runtime, topics, source: Path, out: Path, shard_size: int, ray: bool) -> float:
    from paperrec.bulk.backfill import backfill
    from paperrec.bulk.jobs import Runner

    start = time.perf_counter()
    summary = backfill(Runner(runtime, topics, ray=ray), [source], out, shard_size=shard_size)
    seconds = time.perf_counter() - start
    assert summary.computed == summary.papers, summary.as_dict()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=os.environ.get("PAPERREC_HOME"))
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--shard-size", type=int, default=500)
    args = parser.parse_args(argv)
    try:
        import ray
    except ImportError:
        print("Ray is not installed: pip install 'paperrec[ray]'", file=sys.stderr)
        return 2
    from paperrec import bundles
    from paperrec.config import Settings
    from paperrec.errors import ModelNotTrainedError

    shared = Path(os.environ.get("PAPERREC_SHARED_DIR", Path(__file__).parents[2] / "shared"))
    if not (shared / "data" / "arxiv_pool.jsonl").is_file():
        print(f"no shared pool at {shared} (set PAPERREC_SHARED_DIR)", file=sys.stderr)
        return 2
    topics = None
    if args.home is not None:
        try:
            topics = bundles.champion(Settings(home=args.home), "topics")[0]
        except ModelNotTrainedError:
            pass
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        source = _slice(shared, root / "pool.jsonl", args.papers)
        encoder = _runtime(root / "one").embedder.describe()
        print(
            f"{args.papers} abstracts, {cores} cores, encoder {encoder['backend']} "
            f"{encoder['precision']}, topics: {topics or 'none (embed only)'}"
        )
        single = _run(
            _runtime(root / "one"), topics, source, root / "one-out", args.shard_size, False
        )
        print(f"one process: {single:.1f} s", flush=True)
        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, logging_level="WARNING")
        ray_start = time.perf_counter() - started
        try:
            job = _run(
                _runtime(root / "ray"), topics, source, root / "ray-out", args.shard_size, True
            )
        finally:
            ray.shutdown()
    total = ray_start + job
    n = args.papers
    print("\n| run | seconds | abstracts/s | per core |")
    print("|---|---|---|---|")
    for label, seconds in (
        ("one process (torch, all cores)", single),
        ("Ray, job only (actors start inside)", job),
        ("Ray, with ray.init", total),
    ):
        print(f"| {label} | {seconds:.1f} | {n / seconds:.1f} | {n / seconds / cores:.1f} |")
    ratio = total / single
    print(
        f"\nRay / one process = {ratio:.2f} with ray.init, {job / single:.2f} without "
        f"(target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
