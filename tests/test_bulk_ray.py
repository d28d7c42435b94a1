"""Bulk jobs on Ray (paperrec.bulk.on_ray): a local Ray started by the test (two CPUs)
gives the vectors and labels of the single-process run, through the same batch function.

The single-process side reads the session's embedding cache (vectors the one-process
embedder computed); the Ray actors build their own encoder and compute every vector.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from bulk_helpers import runtime_at, shard_table
from paperrec.cli import app
from pool_helpers import slice_pool

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'paperrec[ray]')")
pytestmark = pytest.mark.slow

SLICE = 1000  # papers of the shared pool (the size)
SHARD = 250


@pytest.fixture(scope="module")
def local_ray():
    """A Ray on two CPUs for this module, stopped afterwards."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def topics(trained_home):
    from paperrec import bundles
    from paperrec.config import Settings

    return bundles.champion(Settings(home=trained_home), "topics")[0]


@pytest.mark.timeout(900)
def test_backfill_on_ray_matches_one_process(
    local_ray, topics, tmp_path, shared_dir, session_cache
):
    from paperrec.bulk.backfill import backfill
    from paperrec.bulk.jobs import Runner

    pool = slice_pool(shared_dir, tmp_path / "pool.jsonl", SLICE)
    here = runtime_at(tmp_path / "here", session_cache)
    there = runtime_at(tmp_path / "there", session_cache)
    backfill(Runner(here, topics), [pool], tmp_path / "here-out", shard_size=SHARD)
    summary = backfill(
        Runner(there, topics, ray=True), [pool], tmp_path / "ray-out", shard_size=SHARD
    )
    assert (summary.papers, summary.computed, summary.counts.added) == (SLICE, SLICE, SLICE)

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
