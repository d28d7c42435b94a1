"""CLI start-up: `paperrec --help` and `paperrec --version` beside `python -c pass`.

Target: each under 0.5 s. Every command is run REPEAT times, interleaved so that machine
load hits all of them alike; the best and median wall times and the ratio to bare Python
are printed.

    .venv/bin/python bench/startup.py [REPEAT]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

TARGET_S = 0.5
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "paperrec --help": [sys.executable, "-m", "paperrec.cli", "--help"],
    "paperrec --version": [sys.executable, "-m", "paperrec.cli", "--version"],
}


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(repeat: int = 7) -> int:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, argv in COMMANDS.items():
            times[name].append(_once(argv))
    base = min(times["python -c pass"])
    print(f"{'command':<20} {'best s':>7} {'median s':>9} {'x python':>9}  target")
    failed = False
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        verdict = ""
        if name != "python -c pass":
            ok = best < TARGET_S
            failed |= not ok
            verdict = f"< {TARGET_S} s " + ("met" if ok else "MISSED")
        print(f"{name:<20} {best:>7.3f} {median:>9.3f} {best / base:>9.1f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
