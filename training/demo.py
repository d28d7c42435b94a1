"""The main job on embedded defaults: what `make demo` runs, step by step through the CLI.

1. ingest the seed pages and a slice of the arXiv pool from ../shared (or, without
   ../shared, recent papers from the live arXiv API, which needs the network), embed them;
2. `paperrec retrain --config training/demo.yaml` (training/demo-arxiv.yaml without
   ../shared): a fresh home first registers the topic classifier shipped in the package
   (trained on both arXiv pools, 35,000 papers) as its topics champion; then the topic
   classifier and the ranker are trained on the demo's slice and evaluated, the new topic
   classifier is gated against that champion (the table shows both on the same dev
   papers), the ranker is trained on the topic classifier that won, and the winners are
   promoted (all logged to the local MLflow store);
3. one demo user per seed page, seeded with the page's first papers;
4. start the HTTP service and score a few abstracts through it;
5. write each user's digest to a folder; print where to look.

Every step is idempotent: a second run reuses the store, the embedding cache and the
registry (`paperrec retrain` says there is nothing new) and rewrites the digests.
Settings: PAPERREC_HOME (make: ./.paperrec), PAPERREC_SHARED_DIR, PAPERREC_DEMO_POOL
(pool papers to ingest, default 6000).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
HOME = Path(os.environ.get("PAPERREC_HOME", REPO / ".paperrec")).resolve()
DEMO = HOME / "demo"
POOL_PAPERS = int(os.environ.get("PAPERREC_DEMO_POOL", "6000"))
NONCS_PAPERS = POOL_PAPERS // 2  # papers of the non-CS pool beside them
EVAL_PAPERS = 1000  # arXiv dev papers the gate measures the topic classifier on
SEED_PAPERS = 10  # papers of a seed page its demo user starts from
# The retrain configurations (with ../shared, and without it: the live arXiv API)
CONFIG = REPO / "training" / "demo.yaml"
CONFIG_ARXIV = REPO / "training" / "demo-arxiv.yaml"
READY_SECONDS = 240

timings: list[tuple[str, float]] = []


def paperrec(*args: str, capture: bool = False, env: dict | None = None) -> str:
    """Run one CLI command, echoing it like a user would type it; stop the demo on failure."""
    print(f"\n$ paperrec {' '.join(args)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", *args],
        text=True, capture_output=capture, check=False, env=env,
    )  # fmt: skip
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
        sys.exit(f"demo stopped: `paperrec {' '.join(args)}` exited with {result.returncode}")
    step = " ".join(args[:2]) if args[0] in ("models", "user") else args[0]
    timings.append((f"paperrec {step}", time.monotonic() - started))
    return result.stdout if capture else ""


def head(source: Path, target: Path, n: int) -> Path:
    """The first ``n`` lines of ``source`` in ``target`` (rewritten only when different)."""
    with source.open(encoding="utf-8") as handle:
        text = "".join(line for _, line in zip(range(n), handle, strict=False))
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def last_day_in(path: Path) -> str | None:
    """The newest ``date`` in a JSONL file of papers (ISO dates compare as text)."""
    with path.open(encoding="utf-8") as handle:
        return max((json.loads(line).get("date") or "" for line in handle), default="") or None


def balanced(source: Path, target: Path, n: int, until: str | None = None) -> Path:
    """``n`` lines of ``source`` dated ``until`` or earlier, taken in turn from each primary
    arXiv category (in file order within one), in ``target`` (rewritten only when
    different): a rare area keeps all of its papers instead of the handful a head of the
    file holds."""
    groups: dict[str, list[str]] = {}
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if until and (record.get("date") or "") > until:
                continue
            categories = record.get("categories") or ["?"]
            groups.setdefault(categories[0], []).append(line)
    queues = [groups[name][::-1] for name in sorted(groups)]
    lines: list[str] = []
    while len(lines) < n and any(queues):
        for queue in queues:
            if queue and len(lines) < n:
                lines.append(queue.pop())
    text = "".join(lines)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def cut_slices() -> None:
    """The pool and dev slices that training/demo.yaml names, in DEMO: the head of the CS
    pool (whose authors' later papers teach the ranker) and a slice of the other fields
    the taxonomy covers, balanced across their primary categories and ending where the CS
    slice ends, as one ingest of all the lists up to one day would store them (otherwise
    the newest day, which the web app's Today shows, holds a stray non-CS paper or two)."""
    cs = head(SHARED / "data" / "arxiv_pool.jsonl", DEMO / "arxiv_pool_slice.jsonl", POOL_PAPERS)
    noncs, slice_ = (
        SHARED / "data" / "arxiv_pool_noncs.jsonl",
        DEMO / "arxiv_pool_noncs_slice.jsonl",
    )
    if noncs.is_file():
        balanced(noncs, slice_, NONCS_PAPERS, until=last_day_in(cs))
    else:  # an older ../shared: the CS pool alone
        slice_.write_text("", encoding="utf-8")
    head(SHARED / "data" / "arxiv_dev.jsonl", DEMO / "arxiv_dev_slice.jsonl", EVAL_PAPERS)


def seed_file(page: Path) -> Path:
    """A JSONL file with the first SEED_PAPERS papers of a seed page: a user's start."""
    from paperrec.papers.sources import read

    papers = read(page).papers[:SEED_PAPERS]
    target = DEMO / "seeds" / f"{page.stem}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers)
    )
    return target


def create_users(pages: list[Path]) -> list[str]:
    """One user per seed page (or, without pages, one per arXiv area); existing ones are kept."""
    existing = {
        u["name"] for u in json.loads(paperrec("user", "list", "--json", capture=True) or "[]")
    }
    wanted = {
        f"reader-{page.stem.split('_')[0]}": ("--seed", str(seed_file(page))) for page in pages
    }
    if not pages:
        wanted = {f"reader-{t}": ("--topics", t) for t in ("nlp", "computer-vision", "robotics")}
    for name, option in wanted.items():
        if name not in existing:
            paperrec("user", "add", name, "--email", f"{name}@example.org", *option)
    return list(wanted)


def start_service(env: dict) -> tuple[subprocess.Popen, str]:
    """`paperrec serve` on a free port, in its own process group; waits for /readyz."""
    from paperrec.serving.process import ServerExited, ServerNotReady, free_port, spawn, wait_ready

    port = free_port()
    url, log = f"http://127.0.0.1:{port}", DEMO / "service.log"
    print(
        f"\n$ paperrec serve --port {port}   (in the background; log: {DEMO / 'service.log'})",
        flush=True,
    )
    started = time.monotonic()
    process = spawn([sys.executable, "-m", "paperrec.cli", "serve", "--port", str(port)], env, log)
    try:
        wait_ready(
            process, url, READY_SECONDS, interval=2, on_wait=lambda: print(".", end="", flush=True)
        )
    except ServerExited as exc:
        sys.exit(f"demo stopped: the service {exc}; see {log}")
    except ServerNotReady as exc:
        sys.exit(f"demo stopped: the service was {exc}; see {log}")
    timings.append(("service start", time.monotonic() - started))
    return process, url


def stop_service(process: subprocess.Popen) -> None:
    from paperrec.serving.process import stop

    stop(process, timeout=30)


def abstracts(shared: bool) -> list[dict]:
    """A few papers neither trained on nor in the gate's evaluation: arXiv dev papers after
    the evaluation slice (without ../shared: the newest stored papers)."""
    if shared:
        with (SHARED / "data" / "arxiv_dev.jsonl").open(encoding="utf-8") as handle:
            lines = [
                line
                for i, line in zip(range(EVAL_PAPERS + 3), handle, strict=False)
                if i >= EVAL_PAPERS
            ]
        return [{k: json.loads(line)[k] for k in ("id", "title", "abstract")} for line in lines]
    from paperrec.runtime import Runtime

    papers = Runtime().store.papers.iter_papers()[-3:]
    return [{"id": p.id, "title": p.title, "abstract": p.abstract} for p in papers]


def score_through_service(url: str, rows: list[dict]) -> None:
    import httpx

    print(f"\n$ curl -X POST {url}/score -d '{{\"papers\": [... {len(rows)} abstracts ...]}}'")
    started = time.monotonic()
    response = httpx.post(f"{url}/score", json={"papers": rows}, timeout=120)
    response.raise_for_status()
    timings.append(("POST /score", time.monotonic() - started))
    for row, result in zip(rows, response.json()["results"], strict=True):
        top = sorted(result["topics"].items(), key=lambda kv: -kv[1])[:3]
        print(f"  {row['title'][:70]}")
        print(
            f"    labels: {', '.join(result['labels']) or '-'}; top: "
            + ", ".join(f"{t} {p:.2f}" for t, p in top)
        )


def token_secret() -> str:
    """The secret that signs digest feedback links: the environment's, or one made for the
    demo and kept in PAPERREC_HOME/demo (say so: it is not meant for real use)."""
    if os.environ.get("PAPERREC_TOKEN_SECRET"):
        return os.environ["PAPERREC_TOKEN_SECRET"]
    path = DEMO / "token_secret"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    print(f"PAPERREC_TOKEN_SECRET is not set: digest links are signed with a demo secret in {path}")
    return path.read_text(encoding="utf-8").strip()


def latest_date() -> str:
    stats = json.loads(paperrec("stats", "--json", capture=True))
    return max(d for d in stats["by_date"] if d != "unknown")


def command_name() -> str:
    """How a shell runs this environment's ``paperrec``: the bare name when it is the one on
    PATH (an activated venv), else its path (``.venv/bin/paperrec`` after ``make demo``)."""
    script = Path(sys.executable).parent / "paperrec"
    found = shutil.which("paperrec")
    if found and Path(found).resolve() == script.resolve():
        return "paperrec"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def web_app_lines(user: str, env: dict) -> str:
    """How to open the web app, with a one-time sign-in link for ``user``."""
    link = paperrec("user", "link", user, capture=True, env=env).strip()
    secret = (
        "PAPERREC_TOKEN_SECRET=$PAPERREC_TOKEN_SECRET"
        if os.environ.get("PAPERREC_TOKEN_SECRET")
        else f"PAPERREC_TOKEN_SECRET=$(cat {DEMO / 'token_secret'})"
    )
    return (
        f"  the web app:                  {secret} PAPERREC_HOME={HOME} {command_name()} serve\n"
        f"                                then open http://127.0.0.1:3000  (API docs at /docs)\n"
        f"  sign in as {user}:\n    {link}\n"
        f"    (works once within 15 minutes; a new one: {command_name()} user link {user})\n"
    )


def summary(started: float, digests: Path, config: Path, web: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="make demo: wall time per step", title_justify="left")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    steps: dict[str, list[float]] = {}
    for name, seconds in timings:
        steps.setdefault(name, []).append(seconds)
    for name, seconds in steps.items():
        table.add_row(
            name + (f" (x{len(seconds)})" if len(seconds) > 1 else ""), f"{sum(seconds):.0f}"
        )
    table.add_row("[bold]total[/]", f"[bold]{time.monotonic() - started:.0f}[/]")
    console.print(table)
    files = sorted(digests.glob("*"))
    uri = f"sqlite:///{HOME / 'mlflow.sqlite'}"
    console.print(
        "\n[bold]Where to look[/]\n"
        f"  digests ({len(files)} files):  {digests}\n"
        f"  MLflow runs and registry:     mlflow ui --backend-store-uri {uri}  (then http://127.0.0.1:5000)\n"
        f"  models:                       {command_name()} models list\n"
        f"{web}"
        f"  retrain (new data, gate):     PAPERREC_SHARED_DIR={SHARED} PAPERREC_DEMO_DIR={DEMO} "
        f"{command_name()} retrain --config {config}\n"
        f"  state:                        {HOME}",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    started = time.monotonic()
    DEMO.mkdir(parents=True, exist_ok=True)
    shared = (SHARED / "seeds").is_dir() and (SHARED / "data" / "arxiv_pool.jsonl").is_file()
    print(f"PAPERREC_HOME={HOME}")
    if not shared:
        print(
            f"no shared data at {SHARED} (set PAPERREC_SHARED_DIR): using the live arXiv API "
            "(network needed)"
        )
    pages = sorted((SHARED / "seeds").glob("*.txt")) if shared else []
    config = CONFIG if shared else CONFIG_ARXIV
    if shared:
        cut_slices()
        slices = [DEMO / "arxiv_pool_slice.jsonl", DEMO / "arxiv_pool_noncs_slice.jsonl"]
        paperrec("ingest", *map(str, pages), *map(str, slices))
        paperrec("embed")
    config_env = {**os.environ, "PAPERREC_SHARED_DIR": str(SHARED), "PAPERREC_DEMO_DIR": str(DEMO)}
    paperrec("retrain", "--config", str(config), env=config_env)
    paperrec("models", "list", "--limit", "3")
    users = create_users(pages)
    env = {**os.environ, "PAPERREC_HOME": str(HOME), "PAPERREC_TOKEN_SECRET": token_secret()}
    process, url = start_service(env)
    try:
        score_through_service(url, abstracts(shared))
    finally:
        stop_service(process)
    digests = DEMO / "digests"
    paperrec(
        "digest", "--dry-run", "--date", latest_date(), "--out", str(digests),
        "--format", "html", "--format", "markdown", env=env,
    )  # fmt: skip
    print(f"\nDone: {len(users)} demo users, digests written, models served and scored.")
    summary(started, digests, config, web_app_lines(users[0], env))


if __name__ == "__main__":
    main()
