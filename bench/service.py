"""Benchmark of the HTTP service beside the raw embedding model, on the same abstracts.

Prints, from one run: the raw encoder's throughput (batched; the service's encoder, called in
this process) and single-abstract latency, then ``/score`` with one abstract per request at
concurrency 1, 8 and 32 (throughput, p50/p99 latency), then the same abstracts again (cache
hits), one per request and 64 per request, and each target from issue 5 beside its measured
ratio.

It copies a trained PAPERREC_HOME (``--home``, default $PAPERREC_HOME) to a temporary
directory without its embedding cache, starts its own ``bentoml serve`` on a free loopback
port and stops it at the end. Every phase sends a fixed number of requests. Each fresh
phase tags the titles with its name, so no phase is served from another one's cache. The
process uses the server's OpenMP setting (OMP_WAIT_POLICY=PASSIVE), so the raw numbers are
measured under the same conditions. The load generator (`_load`, aiohttp) runs on the same
cores; its CPU per request at concurrency 32 is printed with the targets, and so is the CPU
each side spends per abstract in the paired throughput phases (raw: this process; /score:
the server's processes, and their event loop apart), with the share of the cores the
server kept busy: the two say whether a gap in the ratio is work or idle cores.

    python bench/service.py [--home DIR] [--abstracts N] [--singles N]
    python bench/service.py --mixed [--home DIR]   # /score, /recommend, /feedback together
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _load import Client, cpu_seconds  # bench/ is on sys.path when run as a script

from paperrec.serving.process import (
    ServerExited,
    ServerNotReady,
    free_port,
    spawn,
    stop,
    wait_ready,
)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server; before torch loads

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
DATA = SHARED / "data" / "arxiv_dev.jsonl"
TARGET_RATIO = 0.9  # /score throughput at concurrency 32 over raw batched encode
TARGET_EXTRA_MS = 15.0  # single-abstract p50 over raw single-abstract latency
TARGET_CACHED = 1000.0  # abstracts per second when every abstract is cached
READY_SECONDS = 180
PHASES = (  # name, label, concurrency, abstracts per request, title tag
    ("c1", "/score, 1 per request, concurrency 1", 1, 1, "c1"),
    ("c8", "/score, 1 per request, concurrency 8", 8, 1, "c8"),
    ("c32", "/score, 1 per request, concurrency 32", 32, 1, "c32"),
    ("cached", "/score, cached, 1 per request, concurrency 32", 32, 1, "c32"),
    ("cached64", "/score, cached, 64 per request, concurrency 4", 4, 64, "c32"),
)


def load_abstracts(path: Path, n: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            rows.append({"id": row["id"], "title": row["title"], "abstract": row["abstract"]})
            if len(rows) == n:
                break
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class RawModel:
    """The embedding model with the service's settings, called directly in this process."""

    def __init__(self) -> None:
        from paperrec.config import Settings
        from paperrec.papers.embed import Embedder

        self.embedder = Embedder.from_settings(Settings(), cache=None)
        self.encoder = self.embedder.encoder

    def texts(self, rows: list[dict]) -> list[str]:
        from paperrec.papers.rows import paper_from_fields

        papers = [paper_from_fields(r["id"], r["title"], r["abstract"]).paper for r in rows]
        return [self.embedder.prepare(p.text) for p in papers]

    def seconds(self, texts: list[str], batch_size: int | None = None) -> float:
        start = time.perf_counter()
        size = batch_size or self.embedder.batch_size
        self.encoder.encode(texts, size)
        return time.perf_counter() - start


def tagged(rows: list[dict], tag: str) -> list[dict]:
    return [{**r, "title": f"{r['title']} [{tag}]"} for r in rows]


async def load_phase(url: str, rows: list[dict], concurrency: int, per_request: int = 1) -> dict:
    """POST /score with ``per_request`` abstracts each, ``concurrency`` requests in flight,
    on connections opened before the clock; ``client_ms`` is the load generator's own CPU
    per request (`_load`)."""
    queue: asyncio.Queue = asyncio.Queue()
    for start in range(0, len(rows), per_request):
        queue.put_nowait(rows[start : start + per_request])
    latencies: list[float] = []
    errors = 0
    async with Client(url, concurrency) as client:
        await client.connect()

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                status, ms = await client.post("/score", {"papers": queue.get_nowait()})
                latencies.append(ms)
                errors += status != 200

        cpu, start = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {
        "throughput": len(rows) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": errors,
        "client_ms": cpu * 1000 / len(latencies),
    }


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen:
    from paperrec.config import Settings
    from paperrec.serving.process import serve_command, serve_environment

    env = serve_environment(Settings(home=home, MLFLOW_TRACKING_URI=None, BENTOML_HOME=None))
    env["PAPERREC_RELOAD_INTERVAL"] = "0"
    env.pop("MLFLOW_TRACKING_URI", None)
    return spawn(serve_command("127.0.0.1", port), env, log)


def wait_for(url: str, server: subprocess.Popen) -> None:
    try:
        wait_ready(server, url, READY_SECONDS)
    except ServerExited as exc:
        sys.exit(f"the server {exc} before it was ready")
    except ServerNotReady as exc:
        sys.exit(f"the server was {exc}")


def wait_idle(
    server: subprocess.Popen, quiet: float = 0.1, seconds: int = 3, limit: float = 300.0
) -> float:
    """Wait until the server's processes used under ``quiet`` of a core in each of
    ``seconds`` seconds in a row (at most ``limit`` seconds); returns the seconds waited.
    After /readyz the web app still builds its search index in the background (every
    stored paper's vector and topics: 40-60 s at load 6-10 on 2 cores, holding the model
    lock); measuring before it is done measures the build."""
    start, calm = time.perf_counter(), 0
    while calm < seconds and time.perf_counter() - start < limit:
        before = server_cpu(server)["cpu"]
        time.sleep(1.0)
        used = server_cpu(server)["cpu"] - before
        calm = calm + 1 if used < quiet else 0
    return time.perf_counter() - start


def copy_home(source: Path, target: Path, embeddings: bool = False) -> Path:
    """A copy of ``source`` without its BentoML store, and without its embedding cache
    unless ``embeddings``."""
    skipped = ["bentoml"] if embeddings else ["bentoml", "embeddings.sqlite*"]
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*skipped))
    return target


def report(results: dict[str, dict]) -> None:
    lines = [("raw encode, batched", "raw"), ("raw encode, 1 abstract at a time", "raw1")]
    lines += [(label, name) for name, label, *_ in PHASES]
    print(f"\n| {'measurement':<46} | abstracts/s | p50 ms | p99 ms |")
    print(f"|{'-' * 48}|-------------|--------|--------|")
    for label, name in lines:
        r = results[name]
        cells = [f"{r['throughput']:11.1f}"]
        cells += [f"{r[k]:6.1f}" if r[k] is not None else " " * 6 for k in ("p50", "p99")]
        print(f"| {label:<46} | {' | '.join(cells)} |")
    ratio = results["c32"]["throughput"] / results["raw"]["throughput"]
    extra = results["c1"]["p50"] - results["raw1"]["p50"]
    cached = max(results["cached"]["throughput"], results["cached64"]["throughput"])
    checks = [
        (f"/score at concurrency 32 / raw batched = {ratio:.2f}", ">= 0.9", ratio >= TARGET_RATIO),
        (
            f"1-abstract p50 - raw 1-abstract p50 = {extra:+.1f} ms",
            "<= 15 ms",
            extra <= TARGET_EXTRA_MS,
        ),
        (f"cached abstracts = {cached:.0f}/s", ">= 1000/s", cached >= TARGET_CACHED),
    ]
    print()
    for text, target, ok in checks:
        print(f"{text:<52} target {target:<9} {'met' if ok else 'MISSED'}")
    errors = sum(r.get("errors", 0) for r in results.values())
    print(f"non-200 answers: {errors}")
    c32, raw = results["c32"], results["raw"]
    cores = len(os.sched_getaffinity(0))

    def busy(ms: float, rate: float) -> float:
        """The share of the cores kept busy by ``ms`` of CPU per item at ``rate`` items/s."""
        return ms * rate / 1000 / cores

    print(
        f"load generator (this process, aiohttp) at concurrency 32: {c32['client_ms']:.2f} ms"
        f" of CPU per request, {busy(c32['client_ms'], c32['throughput']):.1%} of the "
        f"{cores} cores"
    )
    print(
        f"CPU per abstract: raw batched {raw['cpu_ms']:.1f} ms, "
        f"{busy(raw['cpu_ms'], raw['throughput']):.1%} of the cores busy (this process); "
        f"/score at concurrency 32 {c32['cpu_ms']:.1f} ms, "
        f"{busy(c32['cpu_ms'], c32['throughput']):.1%} busy (the server; "
        f"{c32['loop_ms']:.2f} ms on its event loop)"
    )


def paired_latency(raw: RawModel, url: str, rows: list[dict]) -> tuple[dict, dict]:
    """One abstract at a time, raw and over HTTP alternately, so both see the same load."""
    texts = raw.texts(rows)
    raw_ms, http_ms = [], []
    with httpx.Client(base_url=url, timeout=120) as client:
        for text, row in zip(texts, tagged(rows, "c1"), strict=True):
            raw_ms.append(raw.seconds([text]) * 1000)
            start = time.perf_counter()
            ok = client.post("/score", json={"papers": [row]}).status_code == 200
            http_ms.append((time.perf_counter() - start) * 1000)
            if not ok:
                raise SystemExit("a single-abstract /score request failed")
    return latency_summary(raw_ms), latency_summary(http_ms)


def latency_summary(ms: list[float]) -> dict:
    rate = len(ms) / (sum(ms) / 1000)
    return {"throughput": rate, "p50": percentile(ms, 50), "p99": percentile(ms, 99), "errors": 0}


def paired_throughput(
    raw: RawModel, url: str, rows: list[dict], server: subprocess.Popen, chunk: int = 256
) -> tuple[dict, dict]:
    """Raw batched encode and /score at concurrency 32, chunk by chunk, alternately.

    Each /score chunk starts with the server idle and ends with its last batches, which
    a server under steady load does not do; a chunk of 256 requests (~5 s) keeps those
    two moments to a small part of it (the change from 128 moved the ratio by less than the
    spread between runs). Both sides count their CPU per abstract: raw this process's,
    /score the server's (`server_cpu`, read around each chunk, connections included)."""
    raw_seconds, raw_cpu, elapsed, phases = 0.0, 0.0, 0.0, []
    served = {"cpu": 0.0, "loop": 0.0}  # the server's CPU seconds in the /score chunks
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        texts = raw.texts(part)
        before = cpu_seconds()
        raw_seconds += raw.seconds(texts)
        raw_cpu += cpu_seconds() - before
        before = server_cpu(server)
        phases.append(asyncio.run(load_phase(url, tagged(part, "c32"), 32)))
        after = server_cpu(server)
        elapsed += len(part) / phases[-1]["throughput"]
        for key in served:
            served[key] += after[key] - before[key]
    http = {
        "throughput": len(rows) / elapsed,
        "p50": statistics.median(p["p50"] for p in phases),
        "p99": max(p["p99"] for p in phases),
        "errors": sum(p["errors"] for p in phases),
        "client_ms": statistics.mean(p["client_ms"] for p in phases),
        "cpu_ms": served["cpu"] * 1000 / len(rows),
        "loop_ms": served["loop"] * 1000 / len(rows),
    }
    plain = {
        "throughput": len(rows) / raw_seconds,
        "p50": None,
        "p99": None,
        "cpu_ms": raw_cpu * 1000 / len(rows),
    }
    return plain, http


def server_cpu(server: subprocess.Popen) -> dict[str, float]:
    """CPU seconds used so far by the server's processes (``cpu``) and by their main
    threads (``loop``: the worker's is its event loop)."""
    import psutil

    root = psutil.Process(server.pid)
    used = {"cpu": 0.0, "loop": 0.0}
    for process in (root, *root.children(recursive=True)):
        for thread in process.threads():
            seconds = thread.user_time + thread.system_time
            used["cpu"] += seconds
            if thread.id == process.pid:
                used["loop"] += seconds
    return used


def run(home: Path, rows: list[dict], singles: int) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-") as tmp:
        home = copy_home(home, Path(tmp) / "home")
        os.environ["PAPERREC_HOME"] = str(home)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(home, port, Path(tmp) / "server.log")
        try:
            wait_for(url, server)
            print(f"waited {wait_idle(server):.0f} s for the server to be idle", flush=True)
            raw = RawModel()
            raw.seconds(raw.texts(rows[:16]))  # warm-up
            asyncio.run(load_phase(url, tagged(rows[:32], "warm-up"), 8))  # trains the batcher
            print(f"one abstract at a time, raw and /score alternately: {singles}", flush=True)
            results = dict(
                zip(("raw1", "c1"), paired_latency(raw, url, rows[:singles]), strict=True)
            )
            print(f"raw batched and /score at concurrency 32, alternately: {len(rows)}", flush=True)
            pair = paired_throughput(raw, url, rows, server)
            results.update(zip(("raw", "c32"), pair, strict=True))
            for name, label, concurrency, per_request, tag in PHASES:
                if name not in results:
                    print(f"{label}: {len(rows)} abstracts", flush=True)
                    job = load_phase(url, tagged(rows, tag), concurrency, per_request)
                    results[name] = asyncio.run(job)
        finally:
            stop(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=os.environ.get("PAPERREC_HOME"), help="trained home"
    )
    parser.add_argument("--abstracts", type=int, default=512, help="abstracts per throughput phase")
    parser.add_argument("--singles", type=int, default=48, help="requests for 1-abstract latency")
    parser.add_argument("--data", type=Path, default=DATA, help="JSONL with id, title, abstract")
    parser.add_argument(
        "--mixed", type=int, nargs="?", const=40, default=None, metavar="REQUESTS",
        help="mixed mode (bench/service_mixed.py): REQUESTS per client, default 40",
    )  # fmt: skip
    args = parser.parse_args()
    if args.home is None or not Path(args.home).is_dir():
        sys.exit("give --home (a PAPERREC_HOME with trained models) or set PAPERREC_HOME")
    if not args.data.is_file():
        sys.exit(f"no abstracts at {args.data} (set PAPERREC_SHARED_DIR)")
    rows = load_abstracts(args.data, args.abstracts)
    if args.mixed is not None:
        return run_mixed(Path(args.home), rows, args.mixed)
    report(run(Path(args.home), rows, args.singles))


def run_mixed(home: Path, rows: list[dict], per_client: int) -> None:
    """The mixed mode on a copy of ``home`` with its embedding cache: stored papers are
    embedded (``paperrec embed``), as in a deployment; /score's abstracts are new texts."""
    import service_mixed

    with tempfile.TemporaryDirectory(prefix="paperrec-bench-") as tmp:
        home = copy_home(home, Path(tmp) / "home", embeddings=True)
        os.environ["PAPERREC_HOME"] = str(home)
        key, to_vote = service_mixed.prepare_user(home)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(home, port, Path(tmp) / "server.log")
        try:
            wait_for(url, server)
            warm = {"user": "bench-mixed", "k": 10, "mark_shown": False}
            headers = {"Authorization": f"Bearer {key}"}  # embeds the 1,000 voted papers
            httpx.post(f"{url}/recommend", json=warm, headers=headers, timeout=600)
            print(f"waited {wait_idle(server):.0f} s for the server to be idle", flush=True)
            votes, alone = iter(to_vote), {}
            for path in ("/feedback", "/recommend"):
                clients = {path: service_mixed.CLIENTS[path]}
                print(f"{path} alone: {per_client // 2} requests per client", flush=True)
                job = service_mixed.mixed_load(
                    url, key, "bench-mixed", rows, votes, per_client // 2, clients
                )
                alone.update(asyncio.run(job))
            print(f"mixed load: {per_client} requests per client, 8 clients", flush=True)
            job = service_mixed.mixed_load(url, key, "bench-mixed", rows, votes, per_client)
            service_mixed.report(asyncio.run(job), alone)
        finally:
            stop(server)


if __name__ == "__main__":
    main()
