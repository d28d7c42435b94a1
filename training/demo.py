"""The main job on embedded defaults: what `make demo` runs.

Ingests the seed pages and the arXiv pool from ../shared, embeds them, trains and
evaluates the topic classifier and the ranker (both logged to the local MLflow store and
registered as champions), then creates a demo user from three seed papers and prints
their recommendations. Every step is idempotent: a second run reuses the store, the
embedding cache and the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
DEMO_USER = "demo"


def paperrec(*args: str, capture: bool = False) -> str:
    """Run one CLI command, echoing it like a user would type it."""
    print(f"\n$ paperrec {' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", *args], text=True, capture_output=capture, check=False
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
        sys.exit(f"demo stopped: `paperrec {' '.join(args)}` exited with {result.returncode}")
    return result.stdout if capture else ""


def demo_seeds(page: Path, n: int = 3) -> Path:
    """A JSONL file with the first ``n`` papers of a seed page: a cold-start profile."""
    from paperrec.sources import Problem, read_path

    papers = [p for p in read_path(page) if not isinstance(p, Problem)][:n]
    target = Path(os.environ.get("PAPERREC_HOME", REPO / ".paperrec")) / "demo_seeds.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    return target


def main() -> None:
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    pool, dev, ood = (SHARED / "data" / name for name in ("arxiv_pool.jsonl", "arxiv_dev.jsonl", "arxiv_ood_dev.jsonl"))
    if not seeds or not pool.is_file():
        sys.exit(f"demo needs the shared data at {SHARED} (seeds/*.txt and data/arxiv_pool.jsonl); set PAPERREC_SHARED_DIR")
    print(f"PAPERREC_HOME={os.environ.get('PAPERREC_HOME', '(default)')}")
    pages = [str(p) for p in seeds]
    paperrec("ingest", *pages, str(pool))
    paperrec("stats", "--top", "8")
    paperrec("embed")
    paperrec("train", "topics", "--dev", str(dev))
    paperrec("evaluate", "--gold", str(ood), "--no-ceiling")
    page_args = [arg for page in pages for arg in ("--pages", page)]
    paperrec("train", "ranker", *page_args)
    users = json.loads(paperrec("user", "list", "--json", capture=True) or "[]")
    if DEMO_USER not in {u["name"] for u in users}:
        seed_file = demo_seeds(seeds[3])
        paperrec("user", "add", DEMO_USER, "--email", "demo@example.org", "--topics", "continual-learning", "--seed", str(seed_file))
    paperrec("recommend", DEMO_USER, "-k", "10", "--dry-run")
    print("\nDone. Serve it with `paperrec serve`; MLflow runs: `mlflow ui --backend-store-uri sqlite:///$PAPERREC_HOME/mlflow.sqlite`.")


if __name__ == "__main__":
    main()
