"""Start and stop the real HTTP service for the service tests (not a test module).

The server runs as a subprocess on 127.0.0.1 and a free port, in its own process group so
that teardown ends BentoML's arbiter and its workers together.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

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
    # the suite's encoder (tests/conftest.py): a server on auto would export its own graph
    env.setdefault(
        "PAPERREC_EMBEDDING_BACKEND", os.environ.get("PAPERREC_EMBEDDING_BACKEND", "torch")
    )
    env.update(extra)
    return env
