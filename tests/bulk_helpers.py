"""Shared pieces of the bulk tests (test_bulk.py, test_bulk_ray.py): a runtime on a new
home that embeds with the session's model and cache, and a backfill's shards read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def runtime_at(home: Path, session_cache):
    """A Runtime on ``home`` whose embedder is the session's (vectors shared, one load)."""
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime

    settings = Settings(home=home)
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)
    return runtime


def shard_table(out: Path) -> dict[str, tuple[np.ndarray, list[str]]]:
    """{paper id: (vector, labels)} over every shard of the backfill in ``out``; fails on a
    paper found twice."""
    from paperrec.store.shards import ShardDir

    shards = ShardDir(out)
    found: dict[str, tuple[np.ndarray, list[str]]] = {}
    for index in shards.shards():
        rows = shards.read(index)
        for paper_id, vector, labels in zip(rows.ids, rows.vectors, rows.labels, strict=True):
            assert paper_id not in found, f"{paper_id} is in two shards"
            found[paper_id] = (vector, labels)
    return found
