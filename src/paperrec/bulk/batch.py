"""The batch function of every bulk job: papers (id, text, content hash) to vectors and
topic probabilities.

`BatchModel` is Ray Data's callable class: built once per worker (an actor on a Ray
cluster, or once in this process), it loads the encoder on its first batch and maps each
batch to its results. Built from a `ModelSpec` (plain values) and the topic model (shipped
to each actor by Ray, so a worker needs no copy of the models on its disk) it runs on any
machine; built from loaded models it runs here without a second load.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime
    from paperrec.topics.model import TopicModel

Batch = dict[str, np.ndarray]
# The columns a batch carries in; results add "vector" (n, dim) and, with a topic model,
# "topics" (n, n_topics). Other columns (shard, row) pass through unchanged.
TEXT, HASH = "text", "content_hash"


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to build the encoder exactly as the driver resolved it (so its
    vectors land under the driver's cache id)."""

    model_name: str
    max_seq_length: int | None
    backend: str
    precision: str
    batch_size: int
    home: str | None

    @classmethod
    def of(cls, runtime: Runtime) -> ModelSpec:
        embedder = runtime.embedder
        return cls(
            embedder.model_name,
            embedder.max_seq_length,
            embedder.backend,
            embedder.precision,
            embedder.batch_size,
            str(embedder.home) if embedder.home is not None else None,
        )


class BatchModel:
    """Maps a batch of papers to their vectors (float32, unit length) and, when a topic
    model is given, their topic probabilities (one column per topic).

    Parameters
    ----------
    spec : builds the encoder in the worker (no cache: a worker elsewhere has none).
    embedder : an encoder already loaded to use instead (this process).
    topic_model : scores the vectors; None embeds only.
    """

    def __init__(
        self,
        spec: ModelSpec | None = None,
        *,
        embedder: Embedder | None = None,
        topic_model: TopicModel | None = None,
    ):
        self.spec = spec
        self.topic_model = topic_model
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    @cached_property
    def embedder(self) -> Embedder:
        from paperrec.papers.embed import Embedder

        spec = self.spec
        return Embedder(
            spec.model_name,
            max_seq_length=spec.max_seq_length,
            backend=spec.backend,
            precision=spec.precision,
            batch_size=spec.batch_size,
            cache=None,
            home=None if spec.home is None else Path(spec.home),
        )

    def __call__(self, batch: Batch) -> Batch:
        texts, hashes = [str(t) for t in batch[TEXT]], [str(h) for h in batch[HASH]]
        vectors = self.embedder.embed_texts(texts, hashes)
        out = {key: value for key, value in batch.items() if key != TEXT}
        out["vector"] = vectors
        if self.topic_model is not None:
            out["topics"] = self.topic_model.predict_proba(vectors)
        return out
