"""Run every benchmark in bench/ one after another and print their output (`make bench`).

Scripts run in their own process with this interpreter, so one benchmark's threads and
caches never disturb the next; embed and train_topics first, then the rest by name.
Each script runs on its defaults (PAPERREC_HOME and PAPERREC_SHARED_DIR from the environment).

    python bench/run_all.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FIRST = ("embed", "train_topics")


def scripts() -> list[Path]:
    found = [p for p in BENCH.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_")]
    return sorted(
        found, key=lambda p: (FIRST.index(p.stem) if p.stem in FIRST else len(FIRST), p.stem)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="*", default=None, help="script names to run (default: all)"
    )
    args = parser.parse_args(argv)
    chosen = [p for p in scripts() if args.only is None or p.stem in args.only]
    if not chosen:
        names = ", ".join(p.stem for p in scripts())
        print(f"no benchmark matches {args.only}; available: {names}", file=sys.stderr)
        return 2
    failed = []
    for script in chosen:
        print(f"\n=== bench/{script.name} " + "=" * max(0, 60 - len(script.name)), flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        print(
            f"--- bench/{script.name}: exit {code} after {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
