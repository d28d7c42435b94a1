"""The slice of the shared arXiv pool that the trained test home is built from.

A module of its own, not conftest: tests/chaos has a conftest too, so ``from conftest
import ...`` would find whichever of the two pytest imported first.
"""

from __future__ import annotations

from pathlib import Path

SMALL_POOL = 1500  # pool papers in the trained fixture: enough for every topic model path


def slice_pool(shared: Path, target: Path, n: int) -> Path:
    """The first ``n`` lines of the shared pool, written to ``target``."""
    with (shared / "data" / "arxiv_pool.jsonl").open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(n), source, strict=False)]
    target.write_text("".join(lines), encoding="utf-8")
    return target
