"""Concurrent ``/score`` requests share one encode: a greedy batcher on the event loop.

Each request queues its papers and awaits their rows. A drain task takes everything that
has queued (whole requests, up to ``max_items`` papers) and scores it in one call on a worker
thread; whatever arrives meanwhile becomes the next batch. Nothing waits for company: a
request that finds a lane free is scored at once, and under load the batches grow by
themselves to the number of requests in flight. With ``lanes`` > 1, that many drains run at
once, for a model that takes concurrent calls and overlaps them (OpenVINO's streams: the
next call's first batches fill the cores that the previous call's last batch leaves idle).

This replaced BentoML's adaptive batcher behind ``/score``: that one holds a batch back
for as long as recent requests waited, and with clients that send again only after an
answer that wait feeds itself, leaving the encoder idle (docs/service.md has the numbers).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import anyio


class GreedyBatcher:
    """Merge concurrent calls of ``score(items) -> rows`` (one row per item, in order).

    Parameters
    ----------
    score
        The batch function; runs on a worker thread, one call at a time.
    max_items
        The most items merged into one call (a single larger request is not split).
    on_batch
        Called with the number of requests of each batch before it is scored (metrics).
    run
        Awaits ``score(items)`` off the event loop: ``run(score, items)``; by default on
        one of anyio's worker threads (the service passes a `ComputePool`'s ``run``).
    lanes
        Calls of ``score`` in flight at most (``run`` must allow as many at once).

    Use it from one event loop (the service's). ``batches`` and ``requests`` count what
    it did.
    """

    def __init__(
        self,
        score: Callable[[list], Sequence],
        max_items: int = 64,
        on_batch: Callable[[int], None] | None = None,
        run: Callable[[Callable, list], Awaitable[Sequence]] | None = None,
        lanes: int = 1,
    ):
        self.score = score
        self.run = run or anyio.to_thread.run_sync
        self.max_items = max_items
        self.on_batch = on_batch
        self.batches = 0
        self.requests = 0
        self._queue: deque[tuple[list, asyncio.Future]] = deque()
        self.lanes = lanes
        self._drains = 0  # drain tasks running

    async def submit(self, items: Sequence) -> list:
        """The rows of ``items``, in order, scored together with whatever else is queued.

        An exception of ``score`` is raised to every request of that batch."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((list(items), future))
        if self._drains < self.lanes:
            self._drains += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def _next_batch(self) -> list[tuple[list, asyncio.Future]]:
        batch = [self._queue.popleft()]
        size = len(batch[0][0])
        while self._queue and size + len(self._queue[0][0]) <= self.max_items:
            batch.append(self._queue.popleft())
            size += len(batch[-1][0])
        return [(items, future) for items, future in batch if not future.done()]

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._next_batch()
                if not batch:  # every request of it was cancelled
                    continue
                flat = [item for items, _ in batch for item in items]
                self.batches += 1
                self.requests += len(batch)
                if self.on_batch is not None:
                    self.on_batch(len(batch))
                try:
                    rows = list(await self.run(self.score, flat))
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for items, future in batch:
                    if not future.done():
                        future.set_result(rows[start : start + len(items)])
                    start += len(items)
        finally:
            self._drains -= 1
