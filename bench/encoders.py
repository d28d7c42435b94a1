"""Encoder backends side by side, and the quality gate any faster encoder must pass.

For every installed backend x precision (torch float32 is the reference): abstracts/s
batched (wall clock, and per CPU-second of this process, which a loaded machine disturbs
far less), single-abstract latency (p50 wall ms), and against torch float32 on the same
abstracts the per-vector cosine (min, mean) and the top-10 nearest-neighbour overlap. The
gate: cosine >= 0.995 (min and mean) and top-10 overlap >= 95 %. Batched runs alternate
between encoders in rounds over slices of the abstracts, so load hits them alike.

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

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
GATE_COSINE = 0.995
GATE_OVERLAP = 0.95
REFERENCE = ("torch", "float32")


def texts_of(path: Path, n: int) -> list[str]:
    texts = []
    for record in read_path(path):
        if isinstance(record, Paper):
            texts.append(record.text)
            if len(texts) == n:
                break
    return texts


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
    texts = texts_of(args.dev, args.n)
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
    rows = [
        [
            "encoder",
            "build s",
            "abstr/s",
            "abstr/cpu-s",
            "vs torch-fp32",
            "single p50 ms",
            "cos min",
            "cos mean",
            "top-10",
            "gate",
        ]
    ]
    results = []
    for (backend, precision), s in stats.items():
        q = quality(s["vectors"], reference, reference_top)
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
                f"{statistics.median(s['single']):.1f}",
                f"{q['cos_min']:.4f}",
                f"{q['cos_mean']:.5f}",
                f"{q['top10'] * 100:.1f}%",
                "pass" if q["passed"] else "FAIL",
            ]
        )
    print(table(rows))
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
