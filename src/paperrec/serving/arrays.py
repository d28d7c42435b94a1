"""Per-paper arrays the serving process keeps in memory: embedding, TF-IDF and topic rows.

A user with 1,000 votes brings 1,000 liked and disliked papers to every ``/recommend``;
embedding them (even from the SQLite cache), vectorising their text and predicting their
topics again each time costs seconds. The rows of a paper depend only on its text and the
models, so the service keeps them, keyed by the paper's content hash, in bounded LRU
memos that live as long as the models do (`Predictor.recommender` builds new ones with a new
model). The ranking code is unchanged: it is handed an embedder, a TF-IDF encoder and a
topic model that answer from the memo and ask the real one only for what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import scipy.sparse as sp

from paperrec.papers.embed import EMBEDDING_DIM

DEFAULT_ROWS = 50_000  # papers per memo (about 2 kB of embedding each, less of the rest)
BLOCKS = 8  # stacked blocks kept per memo (a 1,000-paper profile's: ~1.5 MB of embeddings)


class RowMemo:
    """A thread-safe LRU map from a key to one row (any object), at most ``size`` rows.

    It also keeps the last `BLOCKS` blocks it stacked (`block`): a user's liked papers
    after one more vote are the previous block taken by position plus one new row, instead
    of a thousand rows stacked one by one."""

    def __init__(self, size: int = DEFAULT_ROWS):
        self.size = size
        self._rows: OrderedDict[Hashable, object] = OrderedDict()
        self._blocks: OrderedDict[tuple, tuple[dict, object]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence]) -> list:
        """The row of every key, in order; ``compute(positions)`` makes the missing ones."""
        with self._lock:
            found = [self._rows.get(key) for key in keys]
            for key, row in zip(keys, found, strict=True):
                if row is not None:
                    self._rows.move_to_end(key)
        missing = [i for i, row in enumerate(found) if row is None]
        if missing:
            fresh = compute(missing)
            with self._lock:
                for i, row in zip(missing, fresh, strict=True):
                    found[i] = row
                    self._rows[keys[i]] = row
                while len(self._rows) > self.size:
                    self._rows.popitem(last=False)
        return found

    def block(
        self,
        keys: Sequence[Hashable],
        compute: Callable[[list[int]], Sequence],
        stack: Callable[[list], object],
        take: Callable[[object, np.ndarray], object],
        join: Callable[[object, object], object],
    ):
        """The rows of ``keys`` stacked into one block, in order (``stack(rows)``).

        Built from the kept block sharing the most keys when there is one: ``take(block,
        positions)`` of it, after ``join(block, stack(new rows))`` when some are missing
        from it (those come from `rows`, ``compute`` as there)."""
        keys = list(keys)
        nearest = self._nearest(keys)
        if nearest is None:
            result = stack(self.rows(keys, compute))
        else:
            index, kept = nearest
            where = [index.get(key) for key in keys]
            missing = [i for i, w in enumerate(where) if w is None]
            if missing:
                fresh = self.rows(
                    [keys[i] for i in missing], lambda m: compute([missing[j] for j in m])
                )
                for j, i in enumerate(missing):
                    where[i] = len(index) + j
                kept = join(kept, stack(fresh))
            result = take(kept, np.asarray(where, dtype=np.int64))
        with self._lock:
            self._blocks[tuple(keys)] = ({key: i for i, key in enumerate(keys)}, result)
            self._blocks.move_to_end(tuple(keys))
            while len(self._blocks) > BLOCKS:
                self._blocks.popitem(last=False)
        return take(result, np.arange(len(keys)))  # a copy: the kept block stays as it is

    def _nearest(self, keys: list) -> tuple[dict, object] | None:
        """The kept block holding the most of a sample of ``keys`` (None: none holds any)."""
        sample = keys[:8] + keys[-8:]
        with self._lock:
            kept = list(self._blocks.values())
        hits = [sum(key in index for key in sample) for index, _ in kept]
        if not hits or max(hits) == 0:
            return None
        return kept[hits.index(max(hits))]


class MemoEmbedder:
    """An `Embedder` whose ``embed`` answers repeated papers from memory.

    Papers not in memory are read from the embedder's disk cache when it holds all of
    them; only otherwise is the embedder called, holding ``lock`` (the serving holder's
    model lock): a ranking of stored, embedded papers never waits for another request's
    encode."""

    def __init__(self, embedder, size: int = DEFAULT_ROWS, lock=None):
        self.inner = embedder
        self.memo = RowMemo(size)
        self.lock = lock if lock is not None else contextlib.nullcontext()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def embed(self, papers: Sequence, progress=None) -> np.ndarray:
        papers = list(papers)
        if not papers:
            return self.inner.embed(papers)

        def compute(missing: list[int]) -> list[np.ndarray]:
            batch = [papers[i] for i in missing]
            cache = getattr(self.inner, "cache", None)
            if cache is not None:
                hashes = [p.content_hash for p in batch]
                X, found = cache.lookup(self.inner.model_id, hashes, EMBEDDING_DIM)
                if found.all():
                    return list(X)
            with self.lock:
                return list(self.inner.embed(batch, progress))

        keys = [p.content_hash for p in papers]
        X = self.memo.block(keys, compute, _stack_dense, _take_dense, _join_dense)
        return X.astype(np.float32, copy=False)


class MemoLexical:
    """A `LexicalEncoder` whose ``transform`` answers repeated papers from memory."""

    def __init__(self, lexical, size: int = DEFAULT_ROWS):
        self.inner = lexical
        self.memo = RowMemo(size)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def transform(self, papers: Sequence) -> sp.csr_matrix:
        papers = list(papers)
        if not papers:
            return self.inner.transform(papers)

        def compute(missing: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
            block = self.inner.transform([papers[i] for i in missing]).tocsr()
            return [
                (block.indices[a:b].copy(), block.data[a:b].copy())
                for a, b in zip(block.indptr[:-1], block.indptr[1:], strict=True)
            ]

        def stack(rows: list[tuple[np.ndarray, np.ndarray]]) -> sp.csr_matrix:
            indptr = np.concatenate([[0], np.cumsum([len(i) for i, _ in rows])])
            indices = np.concatenate([i for i, _ in rows])
            data = np.concatenate([d for _, d in rows])
            shape = (len(rows), self.inner.vocabulary_size)
            return sp.csr_matrix((data, indices, indptr), shape=shape)

        keys = [p.content_hash for p in papers]
        join = lambda a, b: sp.vstack([a, b], format="csr")  # noqa: E731
        return self.memo.block(keys, compute, stack, lambda m, rows: m[rows], join)


class MemoTopics:
    """A `TopicModel` whose ``predict_proba`` answers repeated embeddings from memory
    (keyed by a hash of the embedding's bytes)."""

    def __init__(self, topic_model, size: int = DEFAULT_ROWS):
        self.inner = topic_model
        self.memo = RowMemo(size)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if not len(X):
            return self.inner.predict_proba(X)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]

        def compute(missing: list[int]) -> list[np.ndarray]:
            return list(self.inner.predict_proba(X[missing]))

        return self.memo.block(keys, compute, _stack_dense, _take_dense, _join_dense)


def _stack_dense(rows: list[np.ndarray]) -> np.ndarray:
    return np.vstack(rows)


def _take_dense(block: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return block[rows]


def _join_dense(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a, b])
