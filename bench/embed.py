"""Embedding throughput: raw sentence-transformers, the Embedder cold and warm, cache reads.

One run, the same texts for every measurement (the first ``--n`` papers of the pool):

- raw: the Embedder's encoder called directly (``SentenceTransformer.encode`` for torch,
  the exported graph for onnx/openvino; same backend, precision, max_seq_length and batch
  size; normalised; numpy output);
- cold: ``Embedder.embed`` into an empty cache (target >= 0.95 of raw);
- warm: ``Embedder.embed`` again, every vector from the cache (target >= 100x raw);
- cache read: one lookup of 20,000 vectors (from PAPERREC_HOME's cache when it holds that
  many for the store's papers, else 20,000 random vectors in a temporary cache; target well
  under a second).

Raw and cold runs alternate, ``--repeats`` times each, and the best of each is compared
(the least disturbed run; medians are printed too).

    python bench/embed.py [--n 1000] [--repeats 3]

The backends side by side and their quality gate are in bench/encoders.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from paperrec import offline  # first: the flags are set before any model library loads

offline.set_defaults()

import numpy as np  # noqa: E402

from paperrec.config import Settings  # noqa: E402
from paperrec.papers.embed import EMBEDDING_DIM, Embedder  # noqa: E402
from paperrec.papers.sources import read_path  # noqa: E402
from paperrec.schema import Paper  # noqa: E402
from paperrec.store.cache import EmbeddingCache  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
CACHE_READ_VECTORS = 20_000


def load_papers(path: Path, n: int) -> list[Paper]:
    papers = []
    for record in read_path(path):
        if isinstance(record, Paper):
            papers.append(record)
            if len(papers) == n:
                break
    return papers


def timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def raw_encode(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The Embedder's encoder called directly, without the cache."""
    return embedder.encoder.encode(texts, embedder.batch_size)


def cold_embed(embedder: Embedder, papers: list[Paper], directory: Path, run: int) -> float:
    embedder.cache = EmbeddingCache(directory / f"cold-{run}.sqlite")
    seconds = timed(lambda: embedder.embed(papers))
    assert embedder.cache.count(embedder.model_id) == len({p.content_hash for p in papers})
    return seconds


def cache_read_seconds(
    embedder: Embedder, settings: Settings, directory: Path, repeats: int
) -> tuple[float, str]:
    """Best time to look up 20,000 vectors, and where they came from."""
    hashes: list[str] = []
    source = "random vectors in a temporary cache"
    path = settings.embedding_cache_path
    if path.is_file() and EmbeddingCache(path).count(embedder.model_id) >= CACHE_READ_VECTORS:
        from paperrec.store import Store

        hashes = [p.content_hash for p in Store(settings).papers.iter_papers()][:CACHE_READ_VECTORS]
        _, found = EmbeddingCache(path).lookup(embedder.model_id, hashes, EMBEDDING_DIM)
        if found.sum() == CACHE_READ_VECTORS:
            source = f"the store's papers in {path}"
        else:
            hashes = []
    if not hashes:
        path = directory / "read.sqlite"
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(CACHE_READ_VECTORS, EMBEDDING_DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        hashes = [f"{i:064x}" for i in rng.integers(0, 2**62, CACHE_READ_VECTORS)]
        EmbeddingCache(path).put_many(embedder.model_id, hashes, vectors)
    times = []
    for _ in range(repeats):
        cache = EmbeddingCache(path)  # a new connection each time, as a new process would have
        times.append(timed(lambda c=cache: c.lookup(embedder.model_id, hashes, EMBEDDING_DIM)))
        cache.close()
    return min(times), source


def row(name: str, times: list[float], n: int, raw_best: float | None, target: str) -> list[str]:
    best = min(times)
    ratio = f"{raw_best / best:.2f}x" if raw_best else ""
    median = statistics.median(times)
    return [name, f"{best:.3f}", f"{median:.3f}", f"{n / best:,.0f}", ratio, target]


def print_table(rows: list[list[str]]) -> None:
    header = ["measurement", "best s", "median s", "papers/s", "vs raw", "target"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="papers to embed (default 1000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating raw/cold runs (default 3)"
    )
    parser.add_argument("--pool", type=Path, default=SHARED / "data" / "arxiv_pool.jsonl")
    args = parser.parse_args(argv)
    if not args.pool.is_file():
        print(
            f"bench/embed.py: pool not found at {args.pool} (set PAPERREC_SHARED_DIR)",
            file=sys.stderr,
        )
        return 2

    settings = Settings()
    papers = load_papers(args.pool, args.n)
    texts = [p.text for p in papers]
    embedder = Embedder.from_settings(settings, cache=None)
    started = time.perf_counter()
    raw_encode(embedder, texts[:64])  # load the model and warm up
    print(
        f"model {embedder.model_id}: loaded and warmed up in {time.perf_counter() - started:.1f} s"
    )
    threads = __import__("torch").get_num_threads()
    print(
        f"{len(papers)} papers from {args.pool}, batch size {embedder.batch_size}, "
        f"torch threads {threads}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    raw, cold = [], []
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-embed-") as tmp:
        directory = Path(tmp)
        for run in range(args.repeats):
            raw.append(timed(lambda: raw_encode(embedder, texts)))
            cold.append(cold_embed(embedder, papers, directory, run))
        reference = raw_encode(embedder, texts)
        warm_vectors = embedder.embed(papers)
        warm = [timed(lambda: embedder.embed(papers)) for _ in range(max(5, args.repeats))]
        read_best, read_source = cache_read_seconds(
            embedder, settings, directory, max(5, args.repeats)
        )

    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)  # bf16 norms drift
    cosine = np.einsum("ij,ij->i", reference, warm_vectors)
    raw_best = min(raw)
    rows = [
        row("raw SentenceTransformer.encode", raw, len(papers), None, ""),
        row("Embedder cold (empty cache)", cold, len(papers), raw_best, ">= 0.95x"),
        row("Embedder warm (all cached)", warm, len(papers), raw_best, ">= 100x"),
    ]
    print()
    print_table(rows)
    print()
    print(
        f"cache read of {CACHE_READ_VECTORS:,} vectors: {read_best:.3f} s "
        f"({CACHE_READ_VECTORS / read_best:,.0f} vectors/s; target well under 1 s)"
    )
    print(f"  read from {read_source}")
    print(f"Embedder vs raw vectors: min cosine {cosine.min():.5f} (same model, same texts)")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
