"""Threads for the service's heavy work (encodes and rankings), at a lower CPU priority.

On two cores one encode (torch's threads) and two rankings keep both cores busy. The event
loop and the threads that record votes must still get a core at once: a vote is a few
milliseconds of work and must not wait behind a ranking. So heavy work runs on the threads
of a `ComputePool`, which lower their own scheduling priority (nice +10) when they start;
the threads they start in turn (torch's and LightGBM's OpenMP teams) inherit it. The Linux
scheduler then hands a waking vote thread or the event loop a core within a time slice,
while the heavy work still has every core the light work leaves idle.

Linux sets the priority per thread. Elsewhere ``setpriority`` would lower the whole
process, so the pool leaves the priority alone there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How much lower than the service's own threads: nice +10 gives a thread about a tenth of
# the CPU share of a nice 0 thread when both want the same core.
NICENESS = 10


def lower_priority(niceness: int = NICENESS) -> bool:
    """Lower the calling thread's CPU priority by ``niceness`` (Linux only); True if done."""
    if sys.platform != "linux":
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
    except OSError as exc:  # a container may forbid it; the work still runs
        log.warning("could not lower a compute thread's priority: %s", exc)
        return False
    return True


class ComputePool:
    """``threads`` worker threads at a lower priority; `run` awaits a call on one of them.

    Calls beyond ``threads`` wait for a free thread in order of arrival.
    """

    def __init__(self, name: str, threads: int, niceness: int = NICENESS):
        self._executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix=f"paperrec-{name}",
            initializer=lower_priority,
            initargs=(niceness,),
        )

    async def run(self, func: Callable[..., T], *args) -> T:
        """``func(*args)`` on a pool thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args))

    def call(self, func: Callable[..., T], *args) -> T:
        """``func(*args)`` on a pool thread, waited for here (outside an event loop)."""
        return self._executor.submit(func, *args).result()

    def close(self) -> None:
        """Let running calls end and start no new ones."""
        self._executor.shutdown(wait=False, cancel_futures=True)
