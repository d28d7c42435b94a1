"""The benches' HTTP load generator: aiohttp clients on the server's own machine.

The load generator runs on the same cores as the server it measures, so every CPU
millisecond it spends is taken from the server. httpx's AsyncClient spent 3.9-4.2 ms of CPU
per small POST here (2 Zen 4 cores, 32 connections, encode/httpx#3215), the server 1.1-1.8
ms: at /score's ~45 requests/s that was ~8 % of both cores, taken from the encoder the
benchmark compares the service with. aiohttp's client spends 0.3-0.4 ms. `cpu_seconds`
gives what this process spent, so a bench can print the generator's share beside its figures.
"""

from __future__ import annotations

import asyncio
import resource
import time

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=120)


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Client:
    """Up to ``connections`` keep-alive connections to ``url``; `post` answers
    (status, milliseconds). Use it as ``async with Client(url) as client``."""

    def __init__(self, url: str, connections: int = 1, headers: dict | None = None):
        self.url = url
        self.connections = connections
        self.headers = headers
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self.connections)
        self.session = aiohttp.ClientSession(
            self.url, connector=connector, headers=self.headers, timeout=TIMEOUT
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def post(self, path: str, body: dict) -> tuple[int, float]:
        """POST ``body`` as JSON and read the whole answer."""
        start = time.perf_counter()
        async with self.session.post(path, json=body) as answer:
            await answer.read()
            return answer.status, (time.perf_counter() - start) * 1000

    async def connect(self) -> None:
        """Open every connection now (a /livez on each, all at once), as load generators do
        before the clock starts. Opened inside a timed phase, 32 connections cost the first
        requests (and the server) that time."""
        await asyncio.gather(*(self.get("/livez") for _ in range(self.connections)))

    async def get(self, path: str) -> int:
        async with self.session.get(path) as answer:
            await answer.read()
            return answer.status
