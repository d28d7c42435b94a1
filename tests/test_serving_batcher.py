"""The greedy batcher behind /score (paperrec.serving.batcher): concurrent requests share
one call, each gets its own rows back, a lone request does not wait, errors reach everyone
of the failed batch and nobody else."""

from __future__ import annotations

import asyncio
import threading
import time

from paperrec.serving.batcher import GreedyBatcher


class SlowScorer:
    """Rows are (item, batch number); each call takes ``seconds`` on its worker thread."""

    def __init__(self, seconds: float = 0.05, fail_on: str | None = None):
        self.seconds = seconds
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        self.concurrent = 0
        self.most_concurrent = 0
        self._lock = threading.Lock()

    def __call__(self, items: list[str]) -> list[tuple[str, int]]:
        with self._lock:
            self.calls.append(list(items))
            number = len(self.calls)
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
        time.sleep(self.seconds)
        with self._lock:
            self.concurrent -= 1
        if self.fail_on in items:
            raise ValueError(f"cannot score {self.fail_on}")
        return [(item, number) for item in items]


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    scorer = SlowScorer()
    batcher = GreedyBatcher(scorer, max_items=64)

    async def run() -> list[list]:
        first = asyncio.ensure_future(batcher.submit(["p0", "q0"]))
        await asyncio.sleep(0.01)  # the first call is running; the others arrive meanwhile
        rest = await asyncio.gather(*(batcher.submit([f"p{i}", f"q{i}"]) for i in range(1, 20)))
        return [await first, *rest]

    answers = asyncio.run(run())
    for i, rows in enumerate(answers):
        assert [item for item, _ in rows] == [f"p{i}", f"q{i}"]
    assert batcher.batches == len(scorer.calls) == 2 and batcher.requests == 20
    assert scorer.most_concurrent == 1  # one model call at a time
    # the first request found the batcher idle and went alone; the rest shared the next call
    assert scorer.calls[0] == ["p0", "q0"] and len(scorer.calls[1]) == 38


def test_a_batch_never_exceeds_max_items_but_a_large_request_is_whole():
    scorer = SlowScorer(seconds=0.02)
    batcher = GreedyBatcher(scorer, max_items=5)

    async def run() -> list[list]:
        jobs = [batcher.submit([f"a{i}", f"b{i}"]) for i in range(6)]
        return await asyncio.gather(*jobs, batcher.submit([f"big{i}" for i in range(9)]))

    answers = asyncio.run(run())
    assert [len(rows) for rows in answers] == [2] * 6 + [9]
    assert all(len(call) <= 5 for call in scorer.calls if not call[0].startswith("big"))
    assert [f"big{i}" for i in range(9)] in scorer.calls


def test_a_lone_request_is_scored_at_once():
    scorer = SlowScorer(seconds=0.0)
    batcher = GreedyBatcher(scorer)

    async def run() -> float:
        start = time.perf_counter()
        await batcher.submit(["only"])
        return time.perf_counter() - start

    assert asyncio.run(run()) < 0.5
    assert scorer.calls == [["only"]]


def test_an_error_reaches_every_request_of_its_batch_and_the_batcher_goes_on():
    scorer = SlowScorer(fail_on="bad")
    batcher = GreedyBatcher(scorer)

    async def run():
        first = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0)  # the first call is running: the next two share a batch
        shared = await asyncio.gather(
            batcher.submit(["bad"]), batcher.submit(["fine"]), return_exceptions=True
        )
        later = await batcher.submit(["later"])
        return await first, shared, later

    first, shared, later = asyncio.run(run())
    assert first == [("first", 1)]
    assert all(isinstance(r, ValueError) and "cannot score bad" in str(r) for r in shared)
    assert later == [("later", 3)]


def test_a_cancelled_request_is_left_out():
    scorer = SlowScorer()
    batcher = GreedyBatcher(scorer)

    async def run():
        first = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        kept = asyncio.ensure_future(batcher.submit(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        return await first, await kept

    first, kept = asyncio.run(run())
    assert first == [("first", 1)] and kept == [("kept", 2)]
    assert ["gone"] not in scorer.calls and scorer.calls[1] == ["kept"]


def test_an_empty_request_gets_no_rows():
    batcher = GreedyBatcher(SlowScorer(seconds=0.0))
    assert asyncio.run(batcher.submit([])) == []


def test_two_lanes_keep_two_calls_in_flight_and_each_request_gets_its_rows():
    scorer = SlowScorer(seconds=0.05)
    batcher = GreedyBatcher(scorer, max_items=64, lanes=2)

    async def run() -> list[list]:
        first = asyncio.ensure_future(batcher.submit(["p0"]))
        await asyncio.sleep(0.01)  # the first call is running: the next request takes lane 2
        second = asyncio.ensure_future(batcher.submit(["p1"]))
        await asyncio.sleep(0.01)
        rest = await asyncio.gather(*(batcher.submit([f"p{i}"]) for i in range(2, 12)))
        return [await first, await second, *rest]

    answers = asyncio.run(run())
    assert [[item for item, _ in rows] for rows in answers] == [[f"p{i}"] for i in range(12)]
    assert scorer.most_concurrent == 2  # the second lane did not wait for the first call
    assert scorer.calls[:2] == [["p0"], ["p1"]] and batcher.requests == 12
    assert sorted(item for call in scorer.calls for item in call) == sorted(
        f"p{i}" for i in range(12)
    )  # every request scored once
