"""/score on OpenVINO's streams, end to end: a real ``bentoml serve`` whose encoder takes
concurrent calls, so its batcher keeps two calls in flight (paperrec.serving.batcher lanes).
Concurrent requests must still each get their own rows, and share encodes. (The throughput
this buys is measured in bench/service.py, not here.)"""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from paperrec.papers import encoder_choice
from service_helpers import Servers

pytestmark = pytest.mark.slow

TIMEOUT = 120.0
REQUESTS = 24


@pytest.fixture(scope="module")
def server(trained_home, session_cache, tmp_path_factory):
    if not encoder_choice.installed("openvino"):
        pytest.skip("openvino is not installed")
    from paperrec.serving.process import serve_command

    running = Servers(
        trained_home, session_cache.path, tmp_path_factory.mktemp("streams"),
        command=lambda port: serve_command("127.0.0.1", port), prepare=lambda store: {},
        env={
            "PAPERREC_RELOAD_INTERVAL": "0",
            "PAPERREC_EMBEDDING_BACKEND": "openvino",
            "PAPERREC_EMBEDDING_PRECISION": "float32",
        },
    )  # fmt: skip
    server, _ = running.on("sqlite", None)
    yield server
    running.close()


@pytest.fixture(scope="module")
def rows(shared_dir) -> list[dict]:
    out = []
    with (shared_dir / "data" / "arxiv_dev.jsonl").open(encoding="utf-8") as handle:
        for line, _ in zip(handle, range(REQUESTS), strict=False):
            row = json.loads(line)
            out.append({k: row[k] for k in ("id", "title", "abstract")})
    return out


def test_concurrent_requests_on_streams_share_encodes_and_get_their_own_rows(server, rows):
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        ready = client.get("/readyz").json()
        assert ready["embedding"]["backend"] == "openvino", ready
        results: dict[int, httpx.Response] = {}

        def one(i: int) -> None:
            row = {**rows[i], "title": rows[i]["title"] + " (streams)"}
            results[i] = client.post("/score", json={"papers": [row]})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(REQUESTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        assert sorted(results) == list(range(REQUESTS))
        assert all(r.status_code == 200 for r in results.values()), results
        answers = {i: r.json()["results"][0] for i, r in results.items()}
        assert all(answers[i]["id"] == rows[i]["id"] for i in answers)  # each its own row
        assert all(0 <= p <= 1 for a in answers.values() for p in a["topics"].values())
        metrics = client.get("/metrics").text
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("paperrec_score_batch"):
            name = line.split("{")[0].split(" ")[0]
            counts[name] = counts.get(name, 0) + float(line.rsplit(" ", 1)[1])
    batched = counts["paperrec_score_batched_requests_total"]
    assert batched == REQUESTS and counts["paperrec_score_batches_total"] < batched
    assert "Traceback" not in server.log.read_text(errors="replace")
