"""Encoder backends side by side, and the quality gate any faster encoder must pass.

For every installed backend x precision (torch float32 is the reference): abstracts/s
batched (wall clock, and per CPU-second of this process, which a loaded machine disturbs
far less), single-abstract latency (p50 wall ms), and against torch float32 on the same
abstracts the per-vector cosine (min, mean), the top-10 nearest-neighbour overlap, and what
the vectors are for: the packaged topic model's area macro-F1 on those abstracts (their
categories as gold) and nDCG@10 of an author protocol (every author with two or more of the
abstracts: one of their papers is the query, their others the relevant papers, every other
abstract a candidate, ranked by cosine). The gate: cosine >= 0.995 (min and mean), top-10
overlap >= 95 %, F1 and nDCG@10 within 0.005 of torch float32's. Where torch bfloat16 runs
natively, each rate is also given against it. Batched runs alternate between encoders in
rounds over slices of the abstracts, so load hits them alike.

``--e2e N`` then times the embedding of N fresh dev abstracts through the store, the
Embedder and its cache (what ``paperrec embed`` does, process start-up excluded; model load
and cache writes included) with the default settings and with torch float32.

``--record`` writes the results to PAPERREC_HOME/encoders/gate.json, where
``PAPERREC_EMBEDDING_BACKEND=auto`` finds the fastest encoder that passed on this machine.
Exports are built first (timed apart) under PAPERREC_HOME/encoders; int8 calibrates on the
first 128 pool abstracts.

    python bench/encoders.py [--n 2000] [--rounds 4] [--singles 30] [--record] [--e2e 1200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from paperrec.config import Settings  # noqa: E402
from paperrec.papers import encoder_choice  # noqa: E402
from paperrec.papers.embed import Embedder  # noqa: E402
from paperrec.papers.encoder_export import CALIBRATION_TEXTS  # noqa: E402
from paperrec.papers.encoders import cpu_threads  # noqa: E402
from paperrec.papers.sources import read_path  # noqa: E402
from paperrec.schema import Paper  # noqa: E402
from paperrec.topics.default import load_packaged  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
GATE_COSINE = 0.995
GATE_OVERLAP = 0.95
GATE_TASK_DELTA = 0.005  # area macro-F1 and nDCG@10 within this of torch float32's
REFERENCE = ("torch", "float32")


def papers_of(path: Path, n: int) -> list[Paper]:
    papers = []
    for record in read_path(path):
        if isinstance(record, Paper):
            papers.append(record)
            if len(papers) == n:
                break
    return papers


def texts_of(path: Path, n: int) -> list[str]:
    return [paper.text for paper in papers_of(path, n)]


def candidates() -> list[tuple[str, str]]:
    pairs = [REFERENCE]
    for backend in encoder_choice.BACKENDS:
        if not encoder_choice.installed(backend):
            continue
        for precision in encoder_choice.PRECISIONS[backend]:
            pair = (backend, precision)
            if pair != REFERENCE and encoder_choice.native(backend, precision):
                pairs.append(pair)
    return pairs


def top10(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :10]


def quality(vectors: np.ndarray, reference: np.ndarray, reference_top: np.ndarray) -> dict:
    cosine = (vectors * reference).sum(axis=1)
    top = top10(vectors)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, reference_top, strict=True)])
    passed = cosine.min() >= GATE_COSINE and cosine.mean() >= GATE_COSINE
    return {
        "cos_min": float(cosine.min()),
        "cos_mean": float(cosine.mean()),
        "top10": float(overlap),
        "passed": bool(passed and overlap >= GATE_OVERLAP),
    }


def author_queries(papers: list[Paper]) -> list[tuple[int, np.ndarray]]:
    """(query paper, its author's other papers) for every author with 2+ of ``papers``: the
    first paper stands for the reader, the rest are what they went on to write."""
    by_author: dict[str, list[int]] = {}
    for i, paper in enumerate(papers):
        for author in set(paper.authors):
            by_author.setdefault(author, []).append(i)
    return [(rows[0], np.array(rows[1:])) for rows in by_author.values() if len(rows) >= 2]


def task_scores(papers: list[Paper], vectors: np.ndarray, topics, queries) -> dict:
    """What the vectors are for: the packaged topic model's area macro-F1 on ``papers``
    (its categories as gold), and nDCG@10 of ranking every other paper by cosine to one
    paper of an author, that author's other papers relevant."""
    from paperrec.evaluate.topics import evaluate_topics
    from paperrec.recommend.metrics import ndcg_at_k

    f1 = evaluate_topics(topics, papers, vectors)["macro_f1"]["classifier"]
    ndcgs = []
    for query, relevant in queries:
        scores = vectors @ vectors[query]
        mask = np.arange(len(papers)) != query
        relevance = np.zeros(len(papers))
        relevance[relevant] = 1
        ndcgs.append(ndcg_at_k(relevance[mask], scores[mask], 10))
    return {"f1": float(f1), "ndcg": float(np.mean(ndcgs))}


def measure(embedders: dict, texts: list[str], rounds: int, singles: int) -> dict:
    """Alternating batched rounds and single-abstract calls; vectors, wall/CPU seconds."""
    n = len(texts)
    stats = {
        k: {"wall": 0.0, "cpu": 0.0, "single": [], "vectors": np.zeros((n, 384), np.float32)}
        for k in embedders
    }
    size = -(-n // rounds)
    order = list(embedders)
    for r in range(rounds):
        part = slice(r * size, min(n, (r + 1) * size))
        for key in order if r % 2 == 0 else order[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            stats[key]["vectors"][part] = embedders[key].encode_texts(texts[part])
            stats[key]["wall"] += time.perf_counter() - wall
            stats[key]["cpu"] += time.process_time() - cpu
    for i in range(singles):
        for key in order:
            wall = time.perf_counter()
            embedders[key].encode_texts([texts[i % n]])
            stats[key]["single"].append((time.perf_counter() - wall) * 1000)
    return stats


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def embed_seconds(home: Path, encoders: Path, backend: str, precision: str) -> tuple[float, str]:
    """Seconds for Runtime + Embedder.embed of every stored paper under ``home`` (a fresh
    cache for this encoder), the exported encoders shared from ``encoders``."""
    from paperrec.runtime import Runtime

    settings = Settings(home=home, embedding_backend=backend, embedding_precision=precision)
    started = time.perf_counter()
    runtime = Runtime(settings)
    papers = runtime.store.papers.iter_papers()
    runtime.embedder.embed(papers)
    return time.perf_counter() - started, runtime.embedder.choice.label


def end_to_end(n: int, dev: Path, settings: Settings) -> None:
    """Time ``paperrec embed``'s work on ``n`` fresh abstracts with the default encoder and
    with torch float32. Each run gets a home of its own (same papers, empty cache), so the
    second never reads vectors the first wrote, whichever encoder ``auto`` takes."""
    import tempfile

    from paperrec.papers.ingest import ingest_paths
    from paperrec.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "dev.jsonl"
        with dev.open(encoding="utf-8") as handle:  # the last n: not the gate's abstracts
            lines = handle.readlines()[-n:]
        source.write_text("".join(lines), encoding="utf-8")
        seconds = {}
        for name, backend, precision in (
            ("default", "auto", "auto"),
            ("torch", "torch", "float32"),
        ):
            home = Path(tmp) / name
            ingest_paths(Runtime(Settings(home=home)).store.papers, [source])
            (home / "encoders").symlink_to(settings.home / "encoders", target_is_directory=True)
            seconds[name] = embed_seconds(home, settings.home, backend, precision)
        (default, label), (torch_fp32, _) = seconds["default"], seconds["torch"]
        print(
            f"end to end, {n} fresh dev abstracts (store -> Embedder -> cache), each run in a "
            f"fresh home: default ({label}) {default:.1f} s, torch float32 {torch_fp32:.1f} s, "
            f"ratio {default / torch_fp32:.2f} (target <= 0.25)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="dev abstracts (default 2000)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating batched rounds")
    parser.add_argument("--singles", type=int, default=30, help="single-abstract calls each")
    parser.add_argument("--record", action="store_true", help="write the gate record for auto")
    parser.add_argument("--e2e", type=int, default=0, help="fresh abstracts end to end (0: skip)")
    parser.add_argument("--dev", type=Path, default=SHARED / "data" / "arxiv_dev.jsonl")
    parser.add_argument("--pool", type=Path, default=SHARED / "data" / "arxiv_pool.jsonl")
    args = parser.parse_args(argv)
    for path in (args.dev, args.pool):
        if not path.is_file():
            print(f"bench/encoders.py: {path} not found (set PAPERREC_SHARED_DIR)", file=sys.stderr)
            return 2
    settings = Settings()
    papers = papers_of(args.dev, args.n)
    texts = [paper.text for paper in papers]
    calibration = texts_of(args.pool, CALIBRATION_TEXTS)
    embedders, build = {}, {}
    for backend, precision in candidates():
        started = time.perf_counter()
        embedder = Embedder(
            settings.embedding_model,
            max_seq_length=settings.max_seq_length,
            backend=backend,
            precision=precision,
            batch_size=settings.embed_batch_size,
            home=settings.home,
            calibration=lambda: calibration,
        )
        embedder.encode_texts(texts[:8])  # export or load, and warm up
        build[(backend, precision)] = time.perf_counter() - started
        embedders[(backend, precision)] = embedder
    print(
        f"{len(texts)} dev abstracts, {len(embedders)} encoders, "
        f"{cpu_threads()} cores, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    stats = measure(embedders, texts, args.rounds, args.singles)
    reference = stats[REFERENCE]["vectors"]
    reference_top = top10(reference)
    base = len(texts) / stats[REFERENCE]["cpu"]
    topics, queries = load_packaged(), author_queries(papers)
    tasks = {key: task_scores(papers, s["vectors"], topics, queries) for key, s in stats.items()}
    bf16 = stats.get(("torch", "bfloat16"))
    bf16_rate = len(texts) / bf16["wall"] if bf16 else None
    rows = [
        [
            "encoder",
            "build s",
            "abstr/s",
            "abstr/cpu-s",
            "vs torch-fp32",
            "vs torch-bf16",
            "single p50 ms",
            "cos min",
            "cos mean",
            "top-10",
            "F1 delta",
            "nDCG delta",
            "gate",
        ]
    ]
    results = []
    for (backend, precision), s in stats.items():
        q = quality(s["vectors"], reference, reference_top)
        task, ref = tasks[(backend, precision)], tasks[REFERENCE]
        q["f1_delta"] = task["f1"] - ref["f1"]
        q["ndcg_delta"] = task["ndcg"] - ref["ndcg"]
        q["passed"] = bool(
            q["passed"]
            and abs(q["f1_delta"]) <= GATE_TASK_DELTA
            and abs(q["ndcg_delta"]) <= GATE_TASK_DELTA
        )
        rate = len(texts) / s["cpu"]
        results.append(
            {
                "backend": backend,
                "precision": precision,
                "rate": rate,
                "wall_rate": len(texts) / s["wall"],
                **q,
            }
        )
        rows.append(
            [
                f"{backend}-{precision}",
                f"{build[(backend, precision)]:.1f}",
                f"{len(texts) / s['wall']:.1f}",
                f"{rate:.1f}",
                f"{rate / base:.2f}x",
                f"{len(texts) / s['wall'] / bf16_rate:.2f}x" if bf16_rate else "-",
                f"{statistics.median(s['single']):.1f}",
                f"{q['cos_min']:.4f}",
                f"{q['cos_mean']:.5f}",
                f"{q['top10'] * 100:.1f}%",
                f"{q['f1_delta']:+.4f}",
                f"{q['ndcg_delta']:+.4f}",
                "pass" if q["passed"] else "FAIL",
            ]
        )
    print(table(rows))
    print(
        f"torch float32 on the same abstracts: area macro-F1 {tasks[REFERENCE]['f1']:.4f} "
        f"(the packaged topic model), nDCG@10 {tasks[REFERENCE]['ndcg']:.4f} "
        f"({len(queries)} authors with 2+ papers; cosine to one of their papers)"
    )
    passing = [r for r in results if r["passed"]]
    best = max(passing, key=lambda r: r["rate"])
    print(
        f"fastest passing: {best['backend']}-{best['precision']} "
        f"({best['rate'] / base:.2f}x torch float32 per CPU-second)"
    )
    if args.record:
        path = encoder_choice.write_gate(settings.home, settings.embedding_model, results)
        print(f"gate recorded in {path}")
    if args.e2e:
        end_to_end(args.e2e, args.dev, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
