"""What every training run starts from: all stored papers and their embeddings."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paperrec.errors import InputError
from paperrec.runtime import Runtime
from paperrec.schema import Paper

Progress = Callable[[int], None] | None


def corpus(runtime: Runtime, progress: Progress = None) -> tuple[list[Paper], np.ndarray]:
    """All stored papers and their embeddings (computed once, then from the cache)."""
    papers = runtime.store.papers.iter_papers()
    if not papers:
        raise InputError("the store holds no papers; run `paperrec ingest` first")
    return papers, runtime.embedder.embed(papers, progress)
