"""The HTTP service as a process: how to start the BentoML service in ``service/``
(`serve_command`, `serve_environment`; ``paperrec serve`` execs it), and as a child process
with a free port, its own process group and readiness (the demo, the service benchmark and
the service tests). BentoML runs an arbiter with worker processes, so the server starts in
a new session and is stopped as a group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from paperrec import offline
from paperrec.config import Settings
from paperrec.errors import PaperrecError

SERVICE = "service:PaperrecService"
SERVICE_NAME = "paperrec"  # @bentoml.service(name=...) in service/service.py
# BentoML's runtime configuration as JSON in the environment; the service's own settings
# (service/service.py) are the defaults it overrides, for `bentoml serve` of a Bento too.
CONFIG_OVERRIDES = "BENTOML_CONFIG_OVERRIDES"
# The BentoML service lives beside the package in a source checkout: <repo>/service.
SERVICE_DIR = Path(__file__).resolve().parents[3] / "service"


class ServerExited(RuntimeError):
    """The server process ended before it was ready."""


class ServerNotReady(RuntimeError):
    """/readyz did not answer 200 in time (the process is stopped)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run ``command`` in its own process group, stdout and stderr to ``log``."""
    return subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_ready(
    process: subprocess.Popen,
    url: str,
    timeout: float,
    interval: float = 0.5,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """Poll ``url``/readyz until it answers 200; ServerExited if the process ends first,
    ServerNotReady (after stopping it) if ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if on_wait is not None:
            on_wait()
        time.sleep(interval)
    stop(process)
    raise ServerNotReady(f"not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL it if it has not ended within ``timeout`` s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)


def service_dir() -> Path:
    """The directory holding service.py; PaperrecError when this install has none."""
    if not (SERVICE_DIR / "service.py").is_file():
        raise PaperrecError(
            f"no BentoML service at {SERVICE_DIR}: `paperrec serve` runs from a source checkout "
            "(pip install -e .); elsewhere serve a built Bento (bentoml serve paperrec:latest)"
        )
    return SERVICE_DIR


def serve_command(host: str = "127.0.0.1", port: int = 3000) -> list[str]:
    """``bentoml serve`` for the service, with this interpreter."""
    return [
        sys.executable, "-m", "bentoml", "serve", SERVICE,
        "--working-dir", str(service_dir()), "--host", host, "--port", str(port),
    ]  # fmt: skip


def serve_environment(
    settings: Settings, base: dict[str, str] | None = None, workers: int | None = None
) -> dict[str, str]:
    """The environment for the server: ``base`` (default os.environ) with PAPERREC_HOME,
    BENTOML_HOME under it unless set, offline model loading, and ``workers`` (None: the
    service's default, one) worker processes through BentoML's configuration override."""
    env = dict(os.environ if base is None else base)
    env["PAPERREC_HOME"] = str(settings.home)
    env["BENTOML_HOME"] = str(settings.resolved_bentoml_home)
    if workers is not None:
        overrides = json.loads(env.get(CONFIG_OVERRIDES) or "{}")
        overrides.setdefault("services", {}).setdefault(SERVICE_NAME, {})["workers"] = workers
        env[CONFIG_OVERRIDES] = json.dumps(overrides)
    offline.set_defaults(offline.PROCESS, env)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see service/service.py
    return env
