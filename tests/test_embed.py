"""Embedder with the real all-MiniLM-L6-v2: shape, dtype, norm, determinism, and the cache
keyed by (model id, content hash) that makes a second run encode nothing."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

from paperrec.papers.embed import EMBEDDING_DIM, Embedder
from paperrec.schema import Paper

ABSTRACT = (
    "We study continual pretraining of large language models on new domains and show that "
    "replaying a small share of the original data prevents catastrophic forgetting."
)


def _papers(n: int, tag: str | None = None) -> list[Paper]:
    """n papers no other test embeds (a fresh tag), so the session cache has none of them."""
    tag = tag or uuid.uuid4().hex
    return [Paper.create(f"Paper {i} {tag}", f"{ABSTRACT} Variant {i} of {tag}.") for i in range(n)]


class Counter:
    """Wraps an embedder's ``encode_texts`` and records how many texts reach the model."""

    def __init__(self, embedder: Embedder, monkeypatch):
        self.calls: list[int] = []
        original = embedder.encode_texts

        def encode_texts(texts):
            self.calls.append(len(texts))
            return original(texts)

        monkeypatch.setattr(embedder, "encode_texts", encode_texts)

    @property
    def texts(self) -> int:
        return sum(self.calls)


def test_vectors_are_float32_unit_length(embedder):
    X = embedder.embed(_papers(3, "shape"))
    assert X.shape == (3, EMBEDDING_DIM) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    # three different abstracts, three different vectors
    assert (X @ X.T)[np.triu_indices(3, 1)].max() < 0.9999


def test_encoding_is_deterministic(embedder):
    texts = [p.text for p in _papers(4, "determinism")]
    np.testing.assert_array_equal(embedder.encode_texts(texts), embedder.encode_texts(texts))


def test_same_text_same_vector(embedder, monkeypatch):
    tag = uuid.uuid4().hex
    a = Paper.create(f"One text {tag}", ABSTRACT, id="2401.00001")
    b = Paper.create(f"One text {tag}", ABSTRACT, id="2401.00002", categories=("cs.CL",))
    counter = Counter(embedder, monkeypatch)
    X = embedder.embed([a, b])
    np.testing.assert_array_equal(X[0], X[1])
    assert counter.texts == 1  # same content hash: encoded once


def test_second_embed_encodes_nothing_and_returns_the_same_vectors(embedder, monkeypatch):
    papers = _papers(5)
    counter = Counter(embedder, monkeypatch)
    before = embedder.cache.count(embedder.model_id)
    seen: list[int] = []
    first = embedder.embed(papers, progress=seen.append)
    assert counter.texts == 5 and sum(seen) == 5
    assert embedder.cache.count(embedder.model_id) == before + 5

    counter.calls.clear()
    seen.clear()
    second = embedder.embed(papers, progress=seen.append)
    assert counter.calls == []  # the model was not asked for anything
    assert sum(seen) == 5  # progress still reports the cached papers
    np.testing.assert_array_equal(first, second)
    assert embedder.cache.count(embedder.model_id) == before + 5


def test_only_missing_papers_are_encoded_in_order(embedder, monkeypatch):
    old, new = _papers(3), _papers(2)
    cached = embedder.embed(old)
    counter = Counter(embedder, monkeypatch)
    mixed = [new[0], old[0], new[1], old[2], old[1]]
    X = embedder.embed(mixed)
    assert counter.texts == 2
    np.testing.assert_array_equal(X[[1, 3, 4]], cached[[0, 2, 1]])
    np.testing.assert_array_equal(X[[0, 2]], embedder.embed(new))


def test_duplicates_in_one_call_are_encoded_once(embedder, monkeypatch):
    a, b = _papers(2)
    counter = Counter(embedder, monkeypatch)
    X = embedder.embed([a, b, a, a, b])
    assert counter.texts == 2
    np.testing.assert_array_equal(X[0], X[2])
    np.testing.assert_array_equal(X[0], X[3])
    np.testing.assert_array_equal(X[1], X[4])


def test_model_id_separates_caches(embedder, monkeypatch):
    papers = _papers(3)
    embedder.embed(papers)  # cached under the session model id
    shorter = Embedder(
        embedder.model_name,
        max_seq_length=128,
        precision=embedder.precision,
        batch_size=embedder.batch_size,
        cache=embedder.cache,
    )
    assert shorter.model_id != embedder.model_id
    counter = Counter(shorter, monkeypatch)
    shorter.embed(papers)
    assert counter.texts == 3  # nothing borrowed from the other model id
    assert shorter.cache.count(shorter.model_id) >= 3


def test_model_id_names_model_length_and_precision():
    ids = {
        Embedder(precision="float32").model_id,
        Embedder(precision="bfloat16").model_id,
        Embedder(precision="float32", max_seq_length=128).model_id,
        Embedder("some/other-model", precision="float32").model_id,
    }
    assert len(ids) == 4
    assert Embedder(precision="float32").model_id.endswith("|seq=default|float32")


def test_construction_loads_nothing():
    lazy = Embedder("no/such-model-anywhere", precision="float32")
    assert lazy.model_id.startswith("no/such-model-anywhere|")
    # empty input never needs the model either
    assert lazy.embed([]).shape == (0, EMBEDDING_DIM)


def test_empty_input(embedder):
    for X in (embedder.embed([]), embedder.encode_texts([]), embedder.embed_texts([], [])):
        assert X.shape == (0, EMBEDDING_DIM) and X.dtype == np.float32


def test_a_10mb_abstract_is_truncated_deterministically(embedder):
    huge = Paper.create("A very long paper " + uuid.uuid4().hex, (ABSTRACT + " ") * 62_000)
    assert len(huge.abstract) > 10_000_000
    limit = len(embedder.prepare(huge.text))
    assert limit < 20_000  # a bounded prefix reaches the tokenizer
    started = time.perf_counter()
    X = embedder.embed([huge])
    assert time.perf_counter() - started < 10
    # the model reads only the first max_seq_length tokens: the vector is the prefix's vector
    np.testing.assert_array_equal(X[0], embedder.encode_texts([huge.text[:limit]])[0])
    np.testing.assert_array_equal(X[0], embedder.encode_texts([huge.text[:4000]])[0])
    assert not np.array_equal(X[0], embedder.encode_texts([huge.text[:200]])[0])


@pytest.mark.parametrize("length", [None, 128])
def test_prepare_keeps_a_prefix_proportional_to_the_token_limit(length):
    e = Embedder(max_seq_length=length, precision="float32")
    text = "x" * 1_000_000
    kept = e.prepare(text)
    assert text.startswith(kept) and 0 < len(kept) < len(text)
    assert e.prepare("short text") == "short text"
