"""Shared pieces of the chaos tests (not a test module): small file systems, the CLI as a
separate process that can be killed, and the tally each test adds to the chaos table.

Every fault here is local: tmpfs mounts under the test's own directory, processes this
test started, servers on 127.0.0.1. Each helper is bounded in time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from paperrec import offline

# Rows of the chaos table recorded in this process; each test's rows go into its report
# under REPORT_KEY (conftest.py) and are printed at the end of the run (tests/conftest.py).
ROWS: list[Tally] = []
REPORT_KEY = "chaos table row"


@dataclass
class Tally:
    """One row of the chaos table: a fault, how often it was injected, and what survived."""

    fault: str
    runs: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0

    def record(self) -> None:
        """Add the row to the table printed at the end of the run."""
        ROWS.append(self)


def environment(home: Path, **extra: str) -> dict[str, str]:
    """os.environ without paperrec's own settings, pointing at ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAPERREC_", "MLFLOW_", "BENTOML_"))
    }
    env.update(offline.PROCESS, PAPERREC_HOME=str(home), **extra)
    return env


def paperrec(args: list[str], env: dict[str, str], timeout: float = 240):
    """``paperrec ARGS`` as its own process (what a user or cron runs)."""
    return subprocess.run(
        [sys.executable, "-m", "paperrec.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@dataclass
class Ran:
    """What a command did: exit code and its two streams."""

    returncode: int
    stdout: str
    stderr: str


def in_process(args: list[str], home: Path, monkeypatch, **extra: str) -> Ran:
    """``paperrec ARGS`` in this process (typer's CliRunner) against ``home``: the fault is
    in the files, not in the process, so no new interpreter is needed."""
    from typer.testing import CliRunner

    from paperrec.cli import app

    for key, value in environment(home, **extra).items():
        if key.startswith("PAPERREC_"):
            monkeypatch.setenv(key, value)
    for key in ("PAPERREC_DATABASE_URL", "MLFLOW_TRACKING_URI", "BENTOML_HOME"):
        if key not in extra:
            monkeypatch.delenv(key, raising=False)
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"paperrec {' '.join(args)} raised {result.exception!r}")
    return Ran(result.exit_code, result.stdout, result.stderr)


def mount_tmpfs(path: Path, size: str, *, readonly: bool = False) -> None:
    """A small tmpfs at ``path`` (root only); skips the test, saying why, when it cannot."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a tmpfs mount needs root; the chaos disk tests run as root in CI")
    options = f"size={size}" + (",ro" if readonly else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs failed here: {done.stderr.decode().strip()}")


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def one_line_error(done: subprocess.CompletedProcess | Ran) -> str:
    """The single error line of a failed command (asserts there is exactly one)."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def write_pool(path: Path, n: int, prefix: str = "2403") -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = {
                "id": f"{prefix}.{i:05d}",
                "title": f"Synthetic study number {i} of chaos in ingestion",
                "abstract": f"We describe synthetic experiment {i} in detail. " * 12,
                "categories": ["cs.LG"],
                "date": f"2024-03-{1 + i % 28:02d}",
            }
            handle.write(json.dumps(row) + "\n")
    return path
