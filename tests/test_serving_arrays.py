"""The serving process's in-memory paper arrays (paperrec.serving.arrays): the same numbers
as the models give, computed once per paper."""

from __future__ import annotations

import numpy as np

from paperrec.recommend.lexical import LexicalEncoder
from paperrec.schema import Paper
from paperrec.serving.arrays import MemoEmbedder, MemoLexical, RowMemo

WORDS = "attention graph sparse robot vision language policy kernel proof market".split()


def papers(n: int, offset: int = 0) -> list[Paper]:
    return [
        Paper.create(
            f"Study {i} of {WORDS[i % 10]}",
            f"We study {WORDS[i % 10]} and {WORDS[(i * 3) % 10]} with method {i}. " * 3,
            id=f"2401.{i:05d}",
        )
        for i in range(offset, offset + n)
    ]


def test_row_memo_is_bounded_and_computes_only_what_is_missing():
    memo, asked = RowMemo(size=3), []

    def compute(missing):
        asked.append(list(missing))
        return [f"row{i}" for i in missing]

    assert memo.rows(["a", "b"], compute) == ["row0", "row1"]
    assert memo.rows(["b", "c", "a"], compute) == ["row1", "row1", "row0"]
    assert asked == [[0, 1], [1]]
    memo.rows(["d"], compute)  # over the bound: the least recently used ("b") goes
    assert len(memo) == 3
    memo.rows(["b"], compute)
    assert asked[-1] == [0]


def test_blocks_are_built_from_the_nearest_kept_block_with_the_rows_of_a_plain_stack():
    memo, asked = RowMemo(size=100), []

    def compute(missing):
        asked.append(len(missing))
        return [np.full(3, float(ord(keys[i]))) for i in missing]

    def block(order: str) -> np.ndarray:
        nonlocal keys
        keys = list(order)
        take, join = (lambda b, rows: b[rows]), (lambda a, b: np.concatenate([a, b]))
        got = memo.block(keys, compute, np.vstack, take, join)
        np.testing.assert_array_equal(got, np.vstack([np.full(3, float(ord(k))) for k in keys]))
        return got

    keys: list[str] = []
    block("abcdefgh")
    block("abcdefghi")  # one more vote: one new row
    block("acdefghij")  # a changed vote and a new one
    block("jihgfedcba")  # any order
    assert asked == [8, 1, 1]
    first = block("abc")
    first[:] = 0  # the caller's copy; the kept block is unchanged
    block("abc")
    assert asked == [8, 1, 1]


def test_memo_lexical_gives_the_encoders_rows():
    corpus = papers(40)
    encoder = LexicalEncoder(min_df=1).fit(corpus)
    memo = MemoLexical(encoder)
    first = memo.transform(corpus[:10])
    mixed = corpus[5:15] + corpus[:3] + corpus[5:6]
    again = memo.transform(mixed)
    grown = memo.transform(corpus[:12])  # built from the first block and two new rows
    assert (grown != encoder.transform(corpus[:12])).nnz == 0
    assert (first != encoder.transform(corpus[:10])).nnz == 0
    assert (again != encoder.transform(mixed)).nnz == 0
    assert again.shape == (len(mixed), encoder.vocabulary_size)
    assert memo.transform([]).shape == (0, encoder.vocabulary_size)


def test_memo_embedder_gives_the_models_vectors_and_encodes_once(embedder):
    calls = []

    class Counting:
        def embed(self, batch, progress=None):
            calls.append(len(batch))
            return embedder.embed(batch, progress)

    memo = MemoEmbedder(Counting())
    batch = papers(6, offset=100)
    X = memo.embed(batch)
    Y = memo.embed(batch[::-1] + batch[:2])
    assert calls == [6]
    np.testing.assert_array_equal(X[::-1], Y[:6])
    np.testing.assert_allclose(X, embedder.embed(batch), atol=1e-6)


def test_recommendations_are_the_same_with_and_without_the_memo(
    trained_home, session_cache, tmp_path
):
    from digest_helpers import copy_trained_home
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime
    from paperrec.serving.predictor import Predictor
    from paperrec.users.profiles import add_user

    settings = Settings(home=copy_trained_home(trained_home, session_cache, tmp_path / "home"))
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)
    store = runtime.store
    stored = [p.id for p in store.papers.iter_papers() if p.date is not None]
    add_user(store, "memo-user", "m@example.org", seeds=[",".join(stored[:20])])
    plain = Predictor.load(runtime)
    memo = Predictor.load(runtime)
    memo.memo_rows = 10_000
    expected = plain.recommend("memo-user", k=10, mark_shown=False)
    for _ in range(2):  # cold, then from memory
        got = memo.recommend("memo-user", k=10, mark_shown=False)
        assert [(r.id, r.score) for r in got] == [(r.id, r.score) for r in expected]
