"""The HTTP service with 1 worker and with 2, side by side in one run on the same home.

For each worker count: a copy of ``--home`` (default $PAPERREC_HOME; trained models, and
its embedding cache, as a deployment has) served by ``bentoml serve`` with that many
workers (`paperrec.serving.process.serve_environment`, as ``paperrec serve --workers N``)
on a free loopback port; once every worker has answered /readyz and the server is idle,
/score with new abstracts (one per request, 8 connections) and, when the home has a
ranker, /recommend for a user with 1,000 votes (8 clients). Prints requests per second
for each and 2 workers / 1 worker. On a machine with two cores one worker's torch already
uses both, so a second worker adds processes, not cores: read the ratio with that in mind.

    python bench/serve_workers.py [--home DIR] [--abstracts 128] [--recommends 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import service
import service_mixed

from paperrec.serving.process import free_port, spawn, stop

CLIENTS = 8


def _start(home: Path, workers: int, port: int, log: Path):
    from paperrec.config import Settings
    from paperrec.serving.process import serve_command, serve_environment

    settings = Settings(home=home, MLFLOW_TRACKING_URI=None, BENTOML_HOME=None)
    env = serve_environment(settings, workers=workers)
    env["PAPERREC_RELOAD_INTERVAL"] = "0"
    env.pop("MLFLOW_TRACKING_URI", None)
    return spawn(serve_command("127.0.0.1", port), env, log)


def _all_workers(url: str, workers: int, timeout: float = 300) -> None:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        seen.add(httpx.get(f"{url}/readyz", timeout=60).json()["worker"])
    if len(seen) < workers:
        sys.exit(f"only {len(seen)} of {workers} workers answered /readyz")


def _measure(home: Path, workers: int, rows: list[dict], key: str | None, n: int) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(home, workers, port, home.parent / f"server-{workers}.log")
    result: dict = {}
    try:
        service.wait_for(url, server)
        _all_workers(url, workers)
        if key is not None:  # each worker builds the user's profile once
            warm = {"user": "bench-mixed", "k": 10, "mark_shown": False}
            for _ in range(2 * workers):
                httpx.post(
                    f"{url}/recommend",
                    json=warm,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=600,
                )
        print(f"{workers} worker(s): idle after {service.wait_idle(server):.0f} s", flush=True)
        fresh = service.tagged(rows, f"workers-{workers}")
        result["/score"] = asyncio.run(service.load_phase(url, fresh, CLIENTS))
        if key is not None:
            per_client = max(1, n // CLIENTS)
            job = service_mixed.mixed_load(
                url, key, "bench-mixed", rows, iter(()), per_client, {"/recommend": CLIENTS}
            )
            started = time.perf_counter()
            latency = asyncio.run(job)["/recommend"]
            latency["throughput"] = per_client * CLIENTS / (time.perf_counter() - started)
            result["/recommend"] = latency
    finally:
        stop(server)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=os.environ.get("PAPERREC_HOME"))
    parser.add_argument("--abstracts", type=int, default=128, help="/score requests per run")
    parser.add_argument("--recommends", type=int, default=64, help="/recommend requests per run")
    args = parser.parse_args(argv)
    if args.home is None or not Path(args.home).is_dir():
        sys.exit("give --home (a PAPERREC_HOME with trained models) or set PAPERREC_HOME")
    if not service.DATA.is_file():
        sys.exit(f"no abstracts at {service.DATA} (set PAPERREC_SHARED_DIR)")
    from paperrec import bundles
    from paperrec.config import Settings
    from paperrec.errors import ModelNotTrainedError

    try:
        bundles.champion(Settings(home=args.home), "ranker")
        ranker = True
    except ModelNotTrainedError:
        ranker = False
        print("the home has no ranker: /score only")
    rows = service.load_abstracts(service.DATA, args.abstracts)
    results = {}
    with tempfile.TemporaryDirectory(prefix="paperrec-bench-workers-") as tmp:
        home = service.copy_home(Path(args.home), Path(tmp) / "home", embeddings=True)
        os.environ["PAPERREC_HOME"] = str(home)
        key = service_mixed.prepare_user(home)[0] if ranker else None
        for workers in (1, 2):
            results[workers] = _measure(home, workers, rows, key, args.recommends)
    print(
        f"\n| endpoint, {CLIENTS} connections | workers | requests/s | p50 ms | p99 ms | non-200 |"
    )
    print("|---|---|---|---|---|---|")
    for path in results[1]:
        for workers in (1, 2):
            r = results[workers][path]
            errors = r.get("errors", 0)
            print(
                f"| {path} | {workers} | {r['throughput']:.1f} | {r['p50']:.0f} | "
                f"{r['p99']:.0f} | {errors} |"
            )
    for path in results[1]:
        ratio = results[2][path]["throughput"] / results[1][path]["throughput"]
        print(f"{path}: 2 workers / 1 worker = {ratio:.2f} (cores: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
