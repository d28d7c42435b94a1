"""The service's compute threads (paperrec.serving.compute): heavy work runs on pool threads
at a lower CPU priority than the threads that record votes, the threads those threads start
inherit it, results and errors come back, and the /score batcher uses the pool it is given."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from paperrec.serving.batcher import GreedyBatcher
from paperrec.serving.compute import NICENESS, ComputePool

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="priority per thread is Linux's")


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def child_priority() -> int:
    """The priority of a thread started from the calling thread (as OpenMP starts its team)."""
    seen: list[int] = []
    child = threading.Thread(target=lambda: seen.append(own_priority()))
    child.start()
    child.join()
    return seen[0]


@linux_only
def test_pool_threads_and_their_children_run_at_lower_priority_than_the_caller():
    base = own_priority()
    pool = ComputePool("test", 2)
    try:
        inside, child = asyncio.run(pool.run(lambda: (own_priority(), child_priority())))
        assert (inside, child) == (base + NICENESS, base + NICENESS)
        assert pool.call(own_priority) == base + NICENESS
    finally:
        pool.close()
    assert own_priority() == base, "the caller's own priority must not change"


def test_pool_returns_results_and_raises_errors():
    pool = ComputePool("test", 1)

    def fail(message: str) -> None:
        raise ValueError(message)

    try:
        assert asyncio.run(pool.run(sum, [1, 2, 3])) == 6
        with pytest.raises(ValueError, match="no model"):
            asyncio.run(pool.run(fail, "no model"))
        assert pool.call(max, 4, 9) == 9
    finally:
        pool.close()


@linux_only
def test_batcher_scores_on_the_pool_it_is_given():
    pool = ComputePool("encode", 1)
    seen: list[tuple[str, int]] = []

    def score(items: list[str]) -> list[str]:
        seen.append((threading.current_thread().name, own_priority()))
        return [item.upper() for item in items]

    async def main() -> list[list[str]]:
        batcher = GreedyBatcher(score, run=pool.run)
        return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b", "c"]))

    try:
        assert asyncio.run(main()) == [["A"], ["B", "C"]]
    finally:
        pool.close()
    assert seen and all(name.startswith("paperrec-encode") for name, _ in seen)
    assert all(priority == own_priority() + NICENESS for _, priority in seen)
