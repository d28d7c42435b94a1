"""Start and stop the real HTTP service for the service tests (not a test module).

The server runs as a subprocess on 127.0.0.1 and a free port, in its own process group so
that teardown ends BentoML's arbiter and its workers together. `Servers` keeps one server
per store engine for a test module (SQLite, and PostgreSQL for tests marked
``both_engines``), each started on first use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from encoder_helpers import SUITE_ENCODER
from paperrec.serving.process import (
    ServerExited,
    ServerNotReady,
    spawn,
    stop,
    wait_ready,
)

READY_SECONDS = 150
TOKEN_SECRET = "service-test-secret-0123456789-0123456789"


def copy_home(trained_home: Path, target: Path, cache_path: Path) -> Path:
    """A writable copy of the shared trained home, with the session's embedding cache (so
    the server encodes only what no test embedded before)."""
    shutil.copytree(
        trained_home, target, ignore=shutil.ignore_patterns("embeddings.sqlite*", "bentoml")
    )
    source = sqlite3.connect(cache_path)
    copy = sqlite3.connect(target / "embeddings.sqlite")
    with copy:
        source.backup(copy)  # consistent even while the session cache is open elsewhere
    source.close()
    copy.close()
    return target


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        stop(self.process)

    def kill(self) -> None:
        """SIGKILL to the whole process group and to every descendant, at once: BentoML
        starts its workers in a session of their own, outside the group, and a worker
        left alive would keep serving (and keep the votes) through the "crash"."""
        if self.process.poll() is None:
            tree = psutil.Process(self.process.pid).children(recursive=True)
            os.killpg(self.process.pid, signal.SIGKILL)
            for child in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            _, alive = psutil.wait_procs(tree, timeout=30)
            if alive:
                raise RuntimeError(f"server processes survived SIGKILL: {alive}")
        self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start(command: list[str], env: dict[str, str], log: Path, url: str) -> Server:
    """Run ``command`` and wait until ``url``/readyz answers 200 (or fail with the log)."""
    server = Server(url, spawn(command, env, log), log)
    try:
        wait_ready(server.process, url, READY_SECONDS)
    except (ServerExited, ServerNotReady) as exc:
        raise RuntimeError(f"server {exc}:\n{server.log_tail()}") from None
    return server


def environment(home: Path, **extra: str) -> dict[str, str]:
    from paperrec.config import Settings
    from paperrec.serving.process import serve_environment

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAPERREC_", "MLFLOW_", "BENTOML_"))
    }
    env = serve_environment(Settings(home=home), base)
    env["PAPERREC_TOKEN_SECRET"] = TOKEN_SECRET
    # the suite's encoder (tests/conftest.py): torch float32; a server on auto would export
    # its own graph
    for name, value in SUITE_ENCODER.items():
        env.setdefault(name, os.environ.get(name, value))
    env.update(extra)
    return env


def store_on(engine: str, home: Path, request) -> tuple[str | None, Callable[[], None]]:
    """(PAPERREC_DATABASE_URL, a function that drops its database) for a server of
    ``home`` on ``engine``: (None, nothing to drop) for the home's own SQLite file, or a
    new database on the session's PostgreSQL server holding a copy of the home's store;
    the SQLite file is then removed, so nothing reads it by mistake. ``request``: the
    test's (it skips, saying why, where no PostgreSQL server can be had)."""
    from paperrec.config import Settings
    from paperrec.store.transfer import copy_store

    if engine == "sqlite":
        return None, lambda: None
    cluster = request.getfixturevalue("postgres")
    url = cluster.new_database(request.getfixturevalue("postgres_schema"))
    copy_store(Settings(home=home).resolved_database_url, url)
    (home / "paperrec.sqlite").unlink()
    return url, lambda: cluster.drop_database(url)


@dataclass
class Servers:
    """One server per store engine for a test module, each on its own copy of the trained
    home, started on first use (`on`) and all stopped by `close`.

    ``command(port)`` starts a server; ``prepare(store)`` fills a new store (users, keys)
    and returns what the tests need besides the server; ``env``: extra settings.
    """

    trained_home: Path
    cache_path: Path
    root: Path
    command: Callable[[int], list[str]]
    prepare: Callable[..., dict]
    env: dict[str, str] = field(default_factory=dict)
    running: dict[str, tuple[Server, dict, Callable[[], None]]] = field(default_factory=dict)

    def on(self, engine: str, request) -> tuple[Server, dict]:
        """(the server, what ``prepare`` returned plus ``home`` and ``store``) on
        ``engine``, started now if it is not running yet."""
        if engine not in self.running:
            self.running[engine] = self._start(engine, request)
        server, extra, _ = self.running[engine]
        return server, extra

    def _start(self, engine: str, request) -> tuple[Server, dict, Callable[[], None]]:
        from paperrec.config import Settings
        from paperrec.serving.process import free_port
        from paperrec.store import Store

        folder = self.root / engine
        home = copy_home(self.trained_home, folder / "home", self.cache_path)
        url, drop = store_on(engine, home, request)
        store = Store(Settings(home=home, database_url=url))
        extra = {**self.prepare(store), "home": home, "store": store}
        port = free_port()
        env = environment(home, **self.env, **({"PAPERREC_DATABASE_URL": url} if url else {}))
        server = start(self.command(port), env, folder / "server.log", f"http://127.0.0.1:{port}")
        return server, extra, drop

    def close(self) -> None:
        for server, extra, drop in self.running.values():
            server.stop()
            extra["store"].engine.dispose()
            drop()
