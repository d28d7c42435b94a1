"""Bulk jobs in one process (paperrec.bulk, paperrec.store.shards): the backfill writes
shards and loads them into the store, refuses a folder of another plan, resumes after a
real SIGKILL without storing anything twice; Parquet sources; --ray without Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bulk_helpers import runtime_at, shard_table
from encoder_helpers import SUITE_ENCODER
from paperrec import offline
from paperrec.cli import app
from paperrec.errors import InputError
from pool_helpers import slice_pool

KILL_PAPERS, KILL_SHARD = 200, 25


def _backfill(runtime, source: Path, out: Path, **kwargs):
    from paperrec.bulk.backfill import backfill
    from paperrec.bulk.jobs import Runner

    return backfill(Runner(runtime), [source], out, **kwargs)


def _stored(runtime) -> list[str]:
    return [p.id for p in runtime.store.papers.iter_papers()]


def test_backfill_stores_embeds_and_writes_every_paper_once(tmp_path, shared_dir, session_cache):
    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", 60)
    with pool.open("a", encoding="utf-8") as handle:  # a repeated id, and a bad line
        handle.write(pool.read_text(encoding="utf-8").splitlines()[3] + "\n{not json\n")
    runtime = runtime_at(tmp_path / "home", session_cache)
    summary = _backfill(runtime, pool, tmp_path / "out", shard_size=25)
    assert (summary.papers, summary.shards, summary.duplicates) == (60, 3, 1)
    assert summary.counts.added == 60 and len(summary.problems) == 1
    table = shard_table(tmp_path / "out")
    assert sorted(table) == sorted(_stored(runtime))
    cached, found = runtime.store.embeddings.lookup(
        runtime.embedder.model_id, [p.content_hash for p in runtime.store.papers.iter_papers()], 384
    )
    assert found.all()
    expected = runtime.embedder.embed(runtime.store.papers.iter_papers())
    assert np.allclose(cached, expected, atol=1e-6)

    again = _backfill(runtime, pool, tmp_path / "out", shard_size=25)
    assert (again.already_done, again.computed, again.counts.added) == (3, 0, 0)
    with pytest.raises(InputError, match="another plan .*shard_size"):
        _backfill(runtime, pool, tmp_path / "out", shard_size=30)


def test_parquet_source_reads_like_jsonl(tmp_path, shared_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from paperrec.papers.sources import papers_of, read_path

    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", 20)
    rows = [json.loads(line) for line in pool.read_text(encoding="utf-8").splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pool.parquet")
    problems: list = []
    from_parquet = list(papers_of(read_path(tmp_path / "pool.parquet"), problems))
    from_jsonl = list(papers_of(read_path(pool), problems))
    assert problems == []
    assert [(p.id, p.content_hash, p.date) for p in from_parquet] == [
        (p.id, p.content_hash, p.date) for p in from_jsonl
    ]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    bad = list(read_path(tmp_path / "bad.parquet"))
    assert len(bad) == 1 and "not a readable Parquet file" in str(bad[0])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERREC_", "MLFLOW_"))}
    env.update(offline.PROCESS, PAPERREC_HOME=str(home), **SUITE_ENCODER)
    return env


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_backfill_killed_with_sigkill_resumes_without_duplicates(
    tmp_path, shared_dir, session_cache
):
    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", KILL_PAPERS)
    home, out = tmp_path / "home", tmp_path / "out"
    command = [sys.executable, "-m", "paperrec.cli", "backfill", str(pool), "--out", str(out)]
    command += ["--shard-size", str(KILL_SHARD)]
    proc = subprocess.Popen(
        command, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("*.loaded"))) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "the backfill ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    loaded = len(list(out.glob("*.loaded")))
    assert 2 <= loaded < KILL_PAPERS // KILL_SHARD

    runtime = runtime_at(home, session_cache)
    summary = _backfill(runtime, pool, out, shard_size=KILL_SHARD)
    assert summary.already_done == loaded
    assert summary.computed <= KILL_PAPERS - loaded * KILL_SHARD
    stored = _stored(runtime)
    assert len(stored) == len(set(stored)) == KILL_PAPERS
    assert sorted(shard_table(out)) == sorted(stored)
    assert not list(out.glob("*.tmp"))


def test_ray_without_ray_installed_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERREC_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    source = tmp_path / "papers.jsonl"
    source.write_text('{"id": "1", "title": "A title", "abstract": "An abstract."}\n')
    for args in (
        ["backfill", str(source), "-o", str(tmp_path / "out"), "--ray"],
        ["embed", "--ray"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "pip install 'paperrec[ray]'" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # refused before any work
