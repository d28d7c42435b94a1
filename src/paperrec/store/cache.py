"""On-disk embedding cache: float32 vectors keyed by (model id, content hash).

A separate SQLite file (WAL mode, so the CLI and the service can share it) holding raw
float32 bytes. Reads of tens of thousands of vectors take a fraction of a second because
the rows of one model are read in a single scan when a large share of them is wanted.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, content_hash)
) WITHOUT ROWID
"""
_IN_CHUNK = 900  # SQLite's default limit on bound parameters is 999


class EmbeddingCache:
    """Get and put vectors. Thread-safe; one connection per thread."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def get_many(self, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors found for ``hashes``; missing hashes are absent from the result."""
        if not hashes:
            return {}
        conn = self._conn()
        wanted = set(hashes)
        found: dict[str, np.ndarray] = {}
        total = conn.execute("SELECT COUNT(*) FROM vectors WHERE model_id = ?", (model_id,)).fetchone()[0]
        if len(wanted) * 4 >= total:  # a full scan of the model's rows beats many lookups
            rows = conn.execute("SELECT content_hash, vector FROM vectors WHERE model_id = ?", (model_id,))
            for key, blob in rows:
                if key in wanted:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
            return found
        keys = list(wanted)
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT content_hash, vector FROM vectors WHERE model_id = ? AND content_hash IN ({marks})",
                (model_id, *chunk),
            )
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, d) under ``hashes`` (n) in one transaction."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        rows = [(model_id, key, vec.tobytes()) for key, vec in zip(hashes, vectors, strict=True)]
        conn = self._conn()
        with conn:
            conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)

    def count(self, model_id: str | None = None) -> int:
        conn = self._conn()
        if model_id is None:
            return conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return conn.execute("SELECT COUNT(*) FROM vectors WHERE model_id = ?", (model_id,)).fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
