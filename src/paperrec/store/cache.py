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

from paperrec.store.turns import TakingTurns

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, content_hash)
) WITHOUT ROWID
"""
_IN_CHUNK = 900  # SQLite's default limit on bound parameters is 999
# From this many wanted vectors on, one scan of the model's rows is faster than keyed
# lookups (measured: 20,000 of 20,000 in 0.15 s by scan; a keyed lookup of a few is ~1 ms).
FULL_SCAN_FROM = 5000


class EmbeddingCache:
    """Get and put vectors. Thread-safe; one connection per thread."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Threads writing vectors take turns (paperrec.store.turns), as the store's do.
            conn = sqlite3.connect(self.path, timeout=30, factory=TakingTurns)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def lookup(
        self, model_id: str, hashes: Sequence[str], dim: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for ``hashes``: float32 (n, dim), zero rows where missing, and a bool
        mask (n,) of the rows that were found."""
        vectors = np.zeros((len(hashes), dim), dtype=np.float32)
        found = np.zeros(len(hashes), dtype=bool)
        if not hashes:
            return vectors, found
        rows = self._fetch(model_id, set(hashes))
        if rows:
            matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32).reshape(
                len(rows), -1
            )
            where = {key: i for i, (key, _) in enumerate(rows)}
            for i, key in enumerate(hashes):
                j = where.get(key)
                if j is not None:
                    vectors[i] = matrix[j]
                    found[i] = True
        return vectors, found

    def _fetch(self, model_id: str, wanted: set[str]) -> list[tuple[str, bytes]]:
        conn = self._conn()
        if len(wanted) >= FULL_SCAN_FROM:  # one scan of the model's rows beats many lookups
            rows = conn.execute(
                "SELECT content_hash, vector FROM vectors WHERE model_id = ?", (model_id,)
            )
            return [row for row in rows if row[0] in wanted]
        keys = list(wanted)
        found: list[tuple[str, bytes]] = []
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.extend(
                conn.execute(
                    f"SELECT content_hash, vector FROM vectors WHERE model_id = ? "
                    f"AND content_hash IN ({marks})",
                    (model_id, *chunk),
                )
            )
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
        return conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE model_id = ?", (model_id,)
        ).fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
