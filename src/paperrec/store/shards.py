"""A backfill's output folder: the plan it was started with, one Parquet file per shard of
papers, and a marker per shard once its rows are in the store.

Shards are fixed slices of the source (shard k = papers k*size ... (k+1)*size - 1, in the
source's order after duplicates are dropped), so a rerun cuts the same shards and skips
those already done. Every file is written with `paperrec.store.files.write_output`
(temp file, fsync, rename): a killed run leaves whole shards or none.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from paperrec.errors import InputError
from paperrec.store.files import check_output, write_output

PLAN = "plan.json"


@dataclass(frozen=True)
class Plan:
    """What the folder's shards were computed from; a rerun must match it."""

    sources: list[dict]  # [{"path", "size", "mtime_ns"}] of each source file
    format: str
    shard_size: int
    embedding_model: str
    topics: list[str]  # topic ids, the order of each shard's "topics" column; [] without
    topics_version: str | None

    @classmethod
    def of_files(cls, paths: list[Path], **fields) -> Plan:
        sources = [
            {"path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
            for p in paths
        ]
        return cls(sources=sources, **fields)


@dataclass(frozen=True)
class ShardRows:
    """The results of one shard: ids and content hashes (n), vectors (n, dim), topic
    probabilities (n, n_topics; n by 0 without a topic model) and labels (n lists)."""

    ids: list[str]
    hashes: list[str]
    vectors: np.ndarray
    topics: np.ndarray
    labels: list[list[str]]


class ShardDir:
    """The folder ``root`` of one backfill."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def start(self, plan: Plan) -> None:
        """Record ``plan``, or check that the folder holds a backfill of the same plan (and
        remove the partial file a killed run of it may have left)."""
        path = self.root / PLAN
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored != asdict(plan):
                changed = sorted(k for k, v in asdict(plan).items() if stored.get(k) != v)
                raise InputError(
                    f"holds a backfill of another plan (differs in {', '.join(changed)}); "
                    "pass a new --out folder, or delete this one to start over",
                    path=str(self.root),
                )
            for stale in self.root.glob(".shard-*.tmp"):  # a killed run was writing it
                stale.unlink(missing_ok=True)
            return
        check_output(self.root, directory=True)
        if self.root.exists() and any(self.root.iterdir()):
            raise InputError("is not empty and holds no backfill plan", path=str(self.root))
        write_output(path, json.dumps(asdict(plan), indent=1) + "\n")

    def path(self, index: int) -> Path:
        return self.root / f"shard-{index:05d}.parquet"

    def loaded_marker(self, index: int) -> Path:
        return self.root / f"shard-{index:05d}.loaded"

    def is_written(self, index: int) -> bool:
        return self.path(index).exists()

    def is_loaded(self, index: int) -> bool:
        return self.loaded_marker(index).exists()

    def mark_loaded(self, index: int) -> None:
        write_output(self.loaded_marker(index), b"")

    def write(self, index: int, rows: ShardRows) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "id": pa.array(rows.ids, pa.string()),
                "content_hash": pa.array(rows.hashes, pa.string()),
                "vector": _fixed_lists(rows.vectors),
                "topics": _fixed_lists(rows.topics),
                "labels": pa.array(rows.labels, pa.list_(pa.string())),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        write_output(self.path(index), buffer.getvalue())

    def read(self, index: int) -> ShardRows:
        import pyarrow.parquet as pq

        table = pq.read_table(self.path(index))
        return ShardRows(
            ids=table["id"].to_pylist(),
            hashes=table["content_hash"].to_pylist(),
            vectors=_matrix(table["vector"]),
            topics=_matrix(table["topics"]),
            labels=table["labels"].to_pylist(),
        )

    def shards(self) -> list[int]:
        """Indices of the shards written so far."""
        return sorted(int(p.stem.split("-")[1]) for p in self.root.glob("shard-*.parquet"))


def _fixed_lists(matrix: np.ndarray):
    """(n, d) float32 as an Arrow column of n lists of d floats (d may be 0)."""
    import pyarrow as pa

    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n, width = matrix.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * width)
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), pa.float32()))


def _matrix(column) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    rows = len(column)
    return flat.astype(np.float32).reshape(rows, len(flat) // rows if rows else 0)
