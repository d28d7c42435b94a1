"""Topic classifier training and scoring time on the 20,000-paper pool, embeddings cached.

Measured separately:
- embedding: only when the cache is cold (the first run embeds the pool once, then never);
- labeling: topic-description vectors, labeling functions, label model;
- classifier fit: ``TopicClassifier`` with its default hyperparameters (target < 60 s on 2
  cores);
- scoring: ``predict_proba`` alone on given embeddings, a batch of 2,000 and single rows.

The embedding cache is PAPERREC_HOME's (``--home`` or the environment; a temporary home
otherwise). ``--cache-from FILE`` copies an existing embeddings.sqlite into a home that has
none, for example a copy of another install's cache, so the pool need not be re-embedded.

    python bench/train_topics.py [--home DIR] [--cache-from FILE] [--n 20000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from paperrec import offline  # first: the flags are set before any model library loads

offline.set_defaults()

import numpy as np  # noqa: E402

from paperrec.config import Settings  # noqa: E402
from paperrec.papers.embed import Embedder  # noqa: E402
from paperrec.papers.sources import read_path  # noqa: E402
from paperrec.schema import Paper  # noqa: E402
from paperrec.store.cache import EmbeddingCache  # noqa: E402
from paperrec.topics.classify import TopicClassifier  # noqa: E402
from paperrec.topics.taxonomy import load_taxonomy  # noqa: E402
from paperrec.train.topics_fit import TopicTrainingConfig, embed_topics, weak_label  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
BATCH = 2000
SINGLE_ROWS = 200


def copy_cache(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy even while another process writes the source."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def load_papers(path: Path, n: int) -> list[Paper]:
    papers = [r for r in read_path(path) if isinstance(r, Paper)]
    return papers[:n]


def run(home: Path, pool: Path, n: int, cache_from: Path | None) -> list[tuple[str, str, str]]:
    settings = Settings(home=home)
    if cache_from is not None and not settings.embedding_cache_path.exists():
        started = time.perf_counter()
        copy_cache(cache_from, settings.embedding_cache_path)
        seconds = time.perf_counter() - started
        print(f"copied {cache_from} into {settings.embedding_cache_path} in {seconds:.1f} s")
    papers = load_papers(pool, n)
    embedder = Embedder.from_settings(settings, EmbeddingCache(settings.embedding_cache_path))
    cached_before = embedder.cache.count(embedder.model_id)
    started = time.perf_counter()
    X = embedder.embed(papers)
    embed_seconds = time.perf_counter() - started
    encoded = embedder.cache.count(embedder.model_id) - cached_before
    rows = [
        (
            "papers",
            f"{len(papers):,}",
            f"{int(sum(bool(p.categories) for p in papers)):,} with arXiv categories",
        ),
        (
            "embeddings",
            f"{embed_seconds:.1f} s",
            f"cold: encoded {encoded:,} papers" if encoded else "all from the cache (no encoding)",
        ),
    ]

    taxonomy = load_taxonomy()
    config = TopicTrainingConfig()
    started = time.perf_counter()
    topic_vectors = embed_topics(taxonomy, embedder)
    labeling = weak_label(papers, X, taxonomy, topic_vectors, config)
    label_seconds = time.perf_counter() - started
    Y = (labeling.probabilities > 0.5).astype(np.int8)
    rows.append(
        ("labeling", f"{label_seconds:.1f} s", f"{len(labeling.lfs)} LFs, {len(taxonomy)} topics")
    )

    classifier = TopicClassifier(random_state=config.random_state)
    started = time.perf_counter()
    classifier.fit(X, Y)
    fit_seconds = time.perf_counter() - started
    verdict = "ok" if fit_seconds < 60 else "over"
    rows.append(
        (
            "classifier fit",
            f"{fit_seconds:.1f} s",
            f"target < 60 s ({verdict}); {int(classifier.trainable_.sum())} topics trained, "
            f"{classifier.n_estimators} trees each, n_jobs={classifier.n_jobs}",
        )
    )

    batch = X[:BATCH]
    classifier.predict_proba(batch)  # warm up
    batch_times = []
    for _ in range(5):
        started = time.perf_counter()
        classifier.predict_proba(batch)
        batch_times.append(time.perf_counter() - started)
    best = min(batch_times)
    rows.append(
        (
            "score batch of 2,000",
            f"{best * 1000:.0f} ms",
            f"{len(batch) / best:,.0f} papers/s (best of 5)",
        )
    )
    single = []
    for i in range(SINGLE_ROWS):
        row = X[i : i + 1]
        started = time.perf_counter()
        classifier.predict_proba(row)
        single.append(time.perf_counter() - started)
    single_ms = np.array(single) * 1000
    rows.append(
        (
            "score single row",
            f"{statistics.median(single_ms):.2f} ms",
            f"median of {SINGLE_ROWS}; p95 {np.percentile(single_ms, 95):.2f} ms",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=os.environ.get("PAPERREC_HOME"), help="PAPERREC_HOME to use"
    )
    parser.add_argument(
        "--cache-from", type=Path, help="embeddings.sqlite to copy into a home without one"
    )
    parser.add_argument(
        "--n", type=int, default=20_000, help="pool papers to train on (default 20,000)"
    )
    parser.add_argument("--pool", type=Path, default=SHARED / "data" / "arxiv_pool.jsonl")
    args = parser.parse_args(argv)
    if not args.pool.is_file():
        print(
            f"bench/train_topics.py: pool not found at {args.pool} (set PAPERREC_SHARED_DIR)",
            file=sys.stderr,
        )
        return 2
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; pool {args.pool}")
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-topics-") as tmp:
        home = Path(args.home) if args.home else Path(tmp) / "home"
        print(f"PAPERREC_HOME {home}{' (temporary)' if not args.home else ''}")
        rows = run(home, args.pool, args.n, args.cache_from)
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    print()
    for name, value, note in rows:
        print(f"{name.ljust(widths[0])}  {value.rjust(widths[1])}  {note}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
