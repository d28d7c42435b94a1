"""CLI start-up: `paperrec --help` and `paperrec --version` beside `python -c pass`.

Target: each under 0.5 s. Every command is run REPEAT times, interleaved so that machine
load hits all of them alike; the best and median wall times, the best CPU time (user +
system, steadier than wall time on a loaded machine) and the ratio to bare Python are
printed.

Commands run as an installed package runs them: with compiled bytecode (written to a
temporary PYTHONPYCACHEPREFIX by a warm-up run, so the source tree stays clean), even where
the environment sets PYTHONDONTWRITEBYTECODE. The "no .pyc" row shows what --help costs
when Python must compile paperrec's modules at every start.

    .venv/bin/python bench/startup.py [REPEAT]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 0.5
HELP = [sys.executable, "-m", "paperrec.cli", "--help"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "paperrec --help": HELP,
    "paperrec --version": [sys.executable, "-m", "paperrec.cli", "--version"],
    "--help, no .pyc": HELP,
}
TARGETED = ("paperrec --help", "paperrec --version")


def _environments(cache: str) -> dict[str, dict[str, str]]:
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = cache
    uncached = {**cached, "PYTHONDONTWRITEBYTECODE": "1"}
    uncached.pop("PYTHONPYCACHEPREFIX")
    return {name: uncached if "no .pyc" in name else cached for name in COMMANDS}


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(repeat: int = 7) -> int:
    with tempfile.TemporaryDirectory(prefix="paperrec-pyc-") as cache:
        envs = _environments(cache)
        for name, argv in COMMANDS.items():  # warm-up: writes the bytecode cache
            _once(argv, envs[name])
        walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
        cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(repeat):
            for name, argv in COMMANDS.items():
                wall, cpu = _once(argv, envs[name])
                walls[name].append(wall)
                cpus[name].append(cpu)
    base = min(walls["python -c pass"])
    print(f"{'command':<20} {'best s':>7} {'median s':>9} {'cpu s':>6} {'x python':>9}  target")
    failed = False
    for name, values in walls.items():
        best, median = min(values), statistics.median(values)
        verdict = ""
        if name in TARGETED:
            ok = best < TARGET_S
            failed |= not ok
            verdict = f"< {TARGET_S} s " + ("met" if ok else "MISSED")
        print(
            f"{name:<20} {best:>7.3f} {median:>9.3f} {min(cpus[name]):>6.2f} "
            f"{best / base:>9.1f}  {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
