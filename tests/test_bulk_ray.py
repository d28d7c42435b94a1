"""Bulk jobs on Ray (paperrec.bulk.on_ray): a local Ray started by the test (two CPUs)
gives the vectors and labels of the single-process run, through the same batch function.

Both sides encode 64 tokens of each text (PAPERREC_MAX_SEQ_LENGTH, as a backfill may):
the claim is that Ray gives what one process gives with the same settings, and at the
model's 256 tokens the 1,000 papers cost each side minutes on 2 cores. The Ray actors build
their own encoder and compute every vector; the one-process side computes its own too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from bulk_helpers import runtime_at, shard_table
from encoder_helpers import SUITE_ENCODER
from paperrec import offline
from paperrec.cli import app
from pool_helpers import slice_pool

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'paperrec[ray]')")
pytestmark = pytest.mark.slow

SLICE = 1000  # papers of the shared pool (the size)
SHARD = 250
SHORT = "64"  # tokens per text on both sides (PAPERREC_MAX_SEQ_LENGTH)


@pytest.fixture(scope="module")
def local_ray():
    """A Ray on two CPUs for this module, stopped afterwards. Its workers run at the
    test's own priority: Ray's default lowers theirs by 15 (nice), and on a machine doing
    anything else the actors then crawled (1,000 papers: minutes more)."""
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level="WARNING",
        _system_config={"worker_niceness": 0},
    )  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def topics(trained_home):
    from paperrec import bundles
    from paperrec.config import Settings

    return bundles.champion(Settings(home=trained_home), "topics")[0]


@pytest.mark.timeout(900)
def test_backfill_on_ray_matches_one_process(
    local_ray, topics, tmp_path, shared_dir, session_cache, monkeypatch
):
    from paperrec.bulk.backfill import backfill
    from paperrec.bulk.jobs import Runner

    monkeypatch.setenv("PAPERREC_MAX_SEQ_LENGTH", SHORT)  # both runtimes below read it
    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", SLICE)
    here = runtime_at(tmp_path / "here", session_cache)
    there = runtime_at(tmp_path / "there", session_cache)
    backfill(Runner(here, topics), [pool], tmp_path / "here-out", shard_size=SHARD)
    summary = backfill(
        Runner(there, topics, ray=True), [pool], tmp_path / "ray-out", shard_size=SHARD
    )
    assert (summary.papers, summary.computed, summary.counts.added) == (SLICE, SLICE, SLICE)
    assert here.embedder.max_seq_length == there.embedder.max_seq_length == int(SHORT)

    one, spread = shard_table(tmp_path / "here-out"), shard_table(tmp_path / "ray-out")
    assert sorted(one) == sorted(spread) and len(one) == SLICE
    ids = sorted(one)
    a = np.stack([one[i][0] for i in ids])
    b = np.stack([spread[i][0] for i in ids])
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    assert [one[i][1] for i in ids] == [spread[i][1] for i in ids]
    assert sum(bool(one[i][1]) for i in ids) > SLICE // 2  # labels were given, not all empty


@pytest.mark.timeout(600)
def test_score_and_embed_commands_on_ray(
    local_ray, trained_home, tmp_path, monkeypatch, shared_dir, session_cache
):
    """``paperrec score --ray`` writes the rows of the one-process ``score``; ``paperrec
    embed --ray`` fills the cache with the one-process vectors."""
    import json
    import shutil

    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.store import Store

    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", 40)
    home = tmp_path / "trained"
    shutil.copytree(trained_home, home, ignore=shutil.ignore_patterns("embeddings.sqlite*"))
    monkeypatch.setenv("PAPERREC_HOME", str(home))
    runs = {}
    for name, extra in (("one", []), ("ray", ["--ray"])):
        out = tmp_path / f"{name}.jsonl"
        result = CliRunner().invoke(app, ["score", str(pool), "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        runs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in runs["one"]] == [r["id"] for r in runs["ray"]]
    assert [r["labels"] for r in runs["one"]] == [r["labels"] for r in runs["ray"]]
    for a, b in zip(runs["one"], runs["ray"], strict=True):
        assert max(abs(a["topics"][t] - b["topics"][t]) for t in a["topics"]) <= 2e-4

    fresh = tmp_path / "fresh"
    monkeypatch.setenv("PAPERREC_HOME", str(fresh))
    assert CliRunner().invoke(app, ["ingest", str(pool)]).exit_code == 0
    result = CliRunner().invoke(app, ["embed", "--ray"])
    assert result.exit_code == 0, result.output
    assert "40 papers: 40 embedded now, 0 from cache" in result.output
    store = Store(Settings(home=fresh))
    papers = store.papers.iter_papers()
    model_id = Embedder.from_settings(Settings(home=fresh), None).model_id
    vectors, found = store.embeddings.lookup(model_id, [p.content_hash for p in papers], 384)
    assert found.all()
    expected = runtime_at(tmp_path / "ref", session_cache).embedder.embed(papers)
    assert ((vectors * expected).sum(axis=1)).min() >= 0.9999


KILL_PAPERS, KILL_SHARD = 240, 30


@pytest.mark.timeout(300)
def test_backfill_on_ray_killed_with_sigkill_resumes_without_duplicates(
    local_ray, tmp_path, shared_dir, session_cache, monkeypatch
):
    """``paperrec backfill --ray`` (a driver of its own on the test's Ray) killed with
    SIGKILL once shards are loaded: run again on Ray, it computes only the shards not yet
    done and stores every paper once."""
    from paperrec.bulk.backfill import backfill
    from paperrec.bulk.jobs import Runner

    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", KILL_PAPERS)
    home, out = tmp_path / "home", tmp_path / "out"
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "paperrec.cli", "backfill", str(pool), "--out", str(out),
               "--shard-size", str(KILL_SHARD), "--ray", address]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERREC_", "MLFLOW_"))}
    # Cheap, small batches (8 x 8 texts of 64 tokens each): the shards come back a few at a
    # time, the first within seconds of the actors starting.
    cheap = {"PAPERREC_MAX_SEQ_LENGTH": "64", "PAPERREC_EMBED_BATCH_SIZE": "8"}
    env.update(offline.PROCESS, PAPERREC_HOME=str(home), **SUITE_ENCODER, **cheap)
    log = tmp_path / "backfill.log"
    with log.open("wb") as said:
        proc = subprocess.Popen(command, env=env, stdout=said, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob("*.loaded")) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    loaded = len(list(out.glob("*.loaded")))
    assert 1 <= loaded < KILL_PAPERS // KILL_SHARD, "killed before or after every shard"

    monkeypatch.setenv("PAPERREC_MAX_SEQ_LENGTH", cheap["PAPERREC_MAX_SEQ_LENGTH"])
    runtime = runtime_at(home, session_cache)  # the same encoder, so the same plan
    summary = backfill(Runner(runtime, ray=True), [pool], out, shard_size=KILL_SHARD)
    assert summary.already_done == loaded
    assert summary.computed <= KILL_PAPERS - loaded * KILL_SHARD
    stored = [p.id for p in runtime.store.papers.iter_papers()]
    assert len(stored) == len(set(stored)) == KILL_PAPERS
    assert sorted(shard_table(out)) == sorted(stored)
    assert not list(out.glob("*.tmp"))
