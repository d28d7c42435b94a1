"""Running the batch function over many papers, here or on Ray, and the two jobs that are
a single pass: ``paperrec embed`` (stored papers into the embedding cache) and
``paperrec score`` (a file of papers to topic rows).

Both paths call the same `BatchModel`. In this process it embeds with the runtime's
embedder, which reads and fills the local embedding cache as every command does; a Ray
worker builds its own encoder (no cache: it may be on another machine) and the driver
stores the vectors that come back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paperrec.bulk.batch import HASH, TEXT, Batch, BatchModel, ModelSpec
from paperrec.papers.embed import EMBEDDING_DIM

if TYPE_CHECKING:
    from paperrec.papers.rows import InputPaper
    from paperrec.runtime import Runtime
    from paperrec.schema import Paper
    from paperrec.topics.model import TopicModel

# Texts per batch handed to a worker: eight encoder batches, so sentence-transformers'
# length sorting inside one call keeps padding low, and a worker's call stays short.
ENCODER_BATCHES_PER_BATCH = 8


def make_batch(hashes: Sequence[str], texts: Sequence[str], **columns) -> Batch:
    """A batch of the batch function's input columns plus any keys (shard, row, id)."""
    batch = {HASH: np.array(hashes, dtype=object), TEXT: np.array(texts, dtype=object)}
    for key, values in columns.items():
        values = np.asarray(values)
        batch[key] = values.astype(object) if values.dtype.kind in "US" else values
    return batch


@dataclass
class Runner:
    """Maps batches through one `BatchModel`: in this process, or on Ray (``ray``, or an
    ``address``) at ``address`` (None: RAY_ADDRESS, else a Ray started on this machine).

    ``topics_path`` is the topic bundle to score with; None embeds only.
    """

    runtime: Runtime
    topics_path: Path | None = None
    ray: bool = False
    address: str | None = None

    def __post_init__(self) -> None:
        self.ray = self.ray or self.address is not None  # an address implies Ray

    @property
    def batch_size(self) -> int:
        return self.runtime.settings.embed_batch_size * ENCODER_BATCHES_PER_BATCH

    @cached_property
    def topic_model(self) -> TopicModel | None:
        if self.topics_path is None:
            return None
        from paperrec.topics.model import TopicModel

        return TopicModel.load(self.topics_path)

    def check(self) -> None:
        """PaperrecError now, before any work, when Ray is asked for but not installed, or
        at an address that is not one or does not answer."""
        if self.ray:
            from paperrec.bulk.on_ray import check_address, require_ray

            require_ray()
            check_address(self.address)

    def run(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """Results for every row of ``batches`` (input keys kept, "vector" and "topics"
        added); on Ray in the order workers finish, so key the rows."""
        if not self.ray:
            model = BatchModel(embedder=self.runtime.embedder, topic_model=self.topic_model)
            for batch in batches:
                for start in range(0, len(batch[HASH]), self.batch_size):
                    yield model({k: v[start : start + self.batch_size] for k, v in batch.items()})
            return
        from paperrec.bulk.on_ray import cluster, map_batches

        spec = ModelSpec.of(self.runtime)  # the encoder resolved here, before workers start
        model, size = self.topic_model, self.batch_size
        with cluster(self.address) as cpus:
            yield from map_batches(batches, spec, model, batch_size=size, actors=cpus)


def embed_stored(
    runner: Runner, papers: Sequence[Paper], progress: Callable[[int], None] | None = None
) -> int:
    """Cache the vectors of ``papers`` that the cache lacks; returns how many were computed."""
    runner.check()
    embedder = runner.runtime.embedder
    cache = runner.runtime.store.embeddings
    hashes = [p.content_hash for p in papers]
    _, found = cache.lookup(embedder.model_id, hashes, EMBEDDING_DIM)
    missing = {p.content_hash: p.text for p, hit in zip(papers, found, strict=True) if not hit}
    papers_of = Counter(hashes)  # papers per text: two stored papers may share one
    if progress and found.any():
        progress(int(found.sum()))
    done = 0
    batch = make_batch(list(missing), list(missing.values()))
    for out in runner.run([batch] if missing else []):
        keys = [str(h) for h in out[HASH]]
        if runner.ray:  # in this process the embedder has cached them already
            cache.put_many(embedder.model_id, keys, out["vector"])
        done += len(keys)
        if progress:
            progress(sum(papers_of[k] for k in keys))
    return done


def score_papers(runner: Runner, papers: Sequence[InputPaper]) -> list[dict]:
    """``paperrec score`` rows (`TopicModel.rows`) for ``papers``, in their order."""
    runner.check()
    model = runner.topic_model
    if model is None:
        raise ValueError("score_papers needs a Runner with topics_path")
    positions = np.arange(len(papers))
    batch = make_batch(
        [p.paper.content_hash for p in papers], [p.paper.text for p in papers], row=positions
    )
    probabilities = np.zeros((len(papers), len(model.topic_ids)))
    vectors = []
    for out in runner.run([batch] if papers else []):
        probabilities[out["row"]] = out["topics"]
        vectors.append((out[HASH], out["vector"]))
    if runner.ray:
        embedder = runner.runtime.embedder
        for keys, matrix in vectors:
            runner.runtime.store.embeddings.put_many(embedder.model_id, list(keys), matrix)
    return model.rows([p.id for p in papers], probabilities)
