"""Topic classifier training and scoring time on the two pools, embeddings cached.

Measured separately:
- embedding: only when the cache is cold (the first run embeds the pools once, then never);
- labeling: topic-description vectors, labeling functions, label model;
- classifier fit: ``TopicClassifier`` with its default hyperparameters;
- retraining = labeling + fit: target < 90 s on 2 cores for the CS pool and the non-CS
  pool together (35,000 papers);
- scoring after the embedding: ``predict_proba`` alone on given embeddings, a batch of
  1,000 (target < 0.2 ms per paper) and single rows (target < 2 ms per paper), with the
  flat trees (`paperrec.topics.forest`) and, alternately in the same process, with
  LightGBM's own predict as before (``lightgbm_only``), and the largest difference
  between their probabilities.

``--packaged`` skips labeling and fitting and scores the packaged topic model (the same
73 topics x 150 trees of 15 leaves, trained on the two pools) on the first 1,000 papers
of the pools: only those need embedding in a new home.

The embedding cache is PAPERREC_HOME's (``--home`` or the environment; a temporary home
otherwise). ``--cache-from FILE`` copies an existing embeddings.sqlite into a home that has
none, for example a copy of another install's cache, so the pool need not be re-embedded.

    python bench/train_topics.py [--home DIR] [--cache-from FILE] [--pool FILE ...] [--n N]
        [--packaged]
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
from paperrec.topics.default import load_packaged  # noqa: E402
from paperrec.topics.forest import lightgbm_only  # noqa: E402
from paperrec.topics.taxonomy import load_taxonomy  # noqa: E402
from paperrec.train.topics_fit import (  # noqa: E402
    TopicTrainingConfig,
    embed_topics,
    training_labels,
    weak_label,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
BATCH = 1000
SINGLE_ROWS = 200
RETRAIN_TARGET_S = 90
BATCH_TARGET_MS = 0.2  # per paper
SINGLE_TARGET_MS = 2.0
POOLS = ("arxiv_pool.jsonl", "arxiv_pool_noncs.jsonl")


def copy_cache(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy even while another process writes the source."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def load_papers(paths: list[Path], n: int | None) -> list[Paper]:
    papers = [r for path in paths for r in read_path(path) if isinstance(r, Paper)]
    return papers[:n] if n else papers


def verdict(value: float, target: float) -> str:
    return f"{value / target:.2f}x the target ({'met' if value < target else 'missed'})"


def run(
    home: Path, pools: list[Path], n: int | None, cache_from: Path | None, packaged: bool = False
) -> list[tuple[str, str, str]]:
    settings = Settings(home=home)
    if packaged:
        n = BATCH
    if cache_from is not None and not settings.embedding_cache_path.exists():
        started = time.perf_counter()
        copy_cache(cache_from, settings.embedding_cache_path)
        seconds = time.perf_counter() - started
        print(f"copied {cache_from} into {settings.embedding_cache_path} in {seconds:.1f} s")
    papers = load_papers(pools, n)
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

    if packaged:
        classifier = load_packaged().classifier
        trees = sum(b.num_trees() for b in classifier.boosters_)
        rows.append(
            ("classifier", "packaged", f"{len(classifier.boosters_)} topics, {trees:,} trees")
        )
        return rows + score_rows(classifier, X)
    taxonomy = load_taxonomy()
    config = TopicTrainingConfig()
    cpu_started = time.process_time()  # CPU seconds of every thread: what a busy machine hides
    started = time.perf_counter()
    topic_vectors = embed_topics(taxonomy, embedder)
    labeling = weak_label(papers, X, taxonomy, topic_vectors, config)
    label_seconds = time.perf_counter() - started
    Y = training_labels(labeling, taxonomy, config)
    rows.append(
        ("labeling", f"{label_seconds:.1f} s", f"{len(labeling.lfs)} LFs, {len(taxonomy)} topics")
    )

    classifier = TopicClassifier(random_state=config.random_state)
    started = time.perf_counter()
    classifier.fit(X, Y)
    fit_seconds = time.perf_counter() - started
    rows.append(
        (
            "classifier fit",
            f"{fit_seconds:.1f} s",
            f"{int(classifier.trainable_.sum())} topics trained, "
            f"{classifier.n_estimators} trees each, {classifier.n_jobs} topics at a time",
        )
    )
    retrain = label_seconds + fit_seconds
    cpu = time.process_time() - cpu_started
    rows.append(
        (
            "retrain (labels + fit)",
            f"{retrain:.1f} s",
            f"< {RETRAIN_TARGET_S} s: "
            + verdict(retrain, RETRAIN_TARGET_S)
            + f"; {cpu:.1f} CPU seconds",
        )
    )

    return rows + score_rows(classifier, X)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def lightgbm_proba(classifier: TopicClassifier, X: np.ndarray) -> np.ndarray:
    """``predict_proba`` as before the flat trees: LightGBM's own predict."""
    with lightgbm_only():
        return classifier.predict_proba(X)


def score_rows(classifier: TopicClassifier, X: np.ndarray) -> list[tuple[str, str, str]]:
    """The scoring rows: the flat trees and LightGBM as before, taking turns."""
    batch = X[:BATCH]
    first = timed(classifier.predict_proba, X[:1])  # flattens the trees, loads the loop
    now, before = classifier.predict_proba(batch), lightgbm_proba(classifier, batch)
    rows = [
        (
            "flat trees: first call",
            f"{first:.2f} s",
            "reads the trees into arrays, compiles or loads the loop; once per model",
        ),
        (
            "same probabilities",
            f"{np.abs(now - before).max():.1e}",
            f"largest difference from LightGBM over {len(batch):,} x {now.shape[1]}"
            + (" (bit-identical)" if np.array_equal(now, before) else ""),
        ),
    ]
    load = os.getloadavg()[0]
    times = {"now": [], "before": []}
    for _ in range(5):
        times["now"].append(timed(classifier.predict_proba, batch))
        times["before"].append(timed(lightgbm_proba, classifier, batch))
    per_paper = {k: min(v) * 1000 / len(batch) for k, v in times.items()}
    medians = {k: statistics.median(v) * 1000 / len(batch) for k, v in times.items()}
    rows.append(
        (
            f"score batch of {len(batch):,}",
            f"{per_paper['now']:.3f} ms/paper",
            f"best of 5, median {medians['now']:.3f}; {len(batch) / min(times['now']):,.0f} "
            f"papers/s; < {BATCH_TARGET_MS} ms/paper: "
            + verdict(per_paper["now"], BATCH_TARGET_MS),
        )
    )
    rows.append(
        (
            "  LightGBM as before",
            f"{per_paper['before']:.3f} ms/paper",
            f"best of 5, median {medians['before']:.3f}, taking turns with the row above; "
            f"{per_paper['before'] / per_paper['now']:.1f}x the time",
        )
    )
    single = {"now": [], "before": []}
    for i in range(SINGLE_ROWS):
        row = X[i : i + 1]
        single["now"].append(timed(classifier.predict_proba, row) * 1000)
        single["before"].append(timed(lightgbm_proba, classifier, row) * 1000)
    median = {k: statistics.median(v) for k, v in single.items()}
    p95 = {k: np.percentile(v, 95) for k, v in single.items()}
    rows.append(
        (
            "score single row",
            f"{median['now']:.2f} ms",
            f"median of {SINGLE_ROWS}; p95 {p95['now']:.2f} ms; < {SINGLE_TARGET_MS} ms: "
            + verdict(median["now"], SINGLE_TARGET_MS),
        )
    )
    rows.append(
        (
            "  LightGBM as before",
            f"{median['before']:.2f} ms",
            f"median of {SINGLE_ROWS}; p95 {p95['before']:.2f} ms (merged model), taking "
            f"turns; {median['before'] / median['now']:.1f}x the time",
        )
    )
    rows.append(("load while scoring", f"{load:.1f}", f"{os.getloadavg()[0]:.1f} after"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=os.environ.get("PAPERREC_HOME"), help="PAPERREC_HOME to use"
    )
    parser.add_argument(
        "--cache-from", type=Path, help="embeddings.sqlite to copy into a home without one"
    )
    parser.add_argument("--n", type=int, help="train on the first N papers only")
    parser.add_argument(
        "--packaged",
        action="store_true",
        help="no labeling or fit: score the packaged topic model on the first 1,000 papers",
    )
    parser.add_argument(
        "--pool",
        type=Path,
        action="append",
        help="JSONL pool to train on; repeatable (default: the CS and the non-CS pool)",
    )
    args = parser.parse_args(argv)
    pools = args.pool or [SHARED / "data" / name for name in POOLS]
    missing = [str(p) for p in pools if not p.is_file()]
    if missing:
        print(
            f"bench/train_topics.py: pool not found: {', '.join(missing)} "
            "(set PAPERREC_SHARED_DIR)",
            file=sys.stderr,
        )
        return 2
    names = ", ".join(p.name for p in pools)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; pools {names}")
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-topics-") as tmp:
        home = Path(args.home) if args.home else Path(tmp) / "home"
        print(f"PAPERREC_HOME {home}{' (temporary)' if not args.home else ''}")
        rows = run(home, pools, args.n, args.cache_from, args.packaged)
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    print()
    for name, value, note in rows:
        print(f"{name.ljust(widths[0])}  {value.rjust(widths[1])}  {note}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
