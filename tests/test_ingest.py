"""Ingest: crash safety of batched writes, --strict, bad formats and files, problem counts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.errors import InputError
from paperrec.papers.ingest import ingest_paths

BATCH = 50
N_PAPERS = 6000


def _write_pool(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = {
                "id": f"2403.{i:05d}v{1 + i % 3}",
                "title": f"Synthetic study number {i} of batched ingestion",
                "abstract": f"We describe synthetic experiment {i}. " * 8,
                "categories": ["cs.LG", "cs.DB"] if i % 2 else ["cs.DB"],
                "date": f"2024-03-{1 + i % 28:02d}",
            }
            handle.write(json.dumps(row) + "\n")
    return path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PAPERREC_DATABASE_URL"}
    env.update(PAPERREC_HOME=str(home), PAPERREC_INGEST_BATCH_SIZE=str(BATCH))
    return env


def _ingest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "paperrec.cli", "ingest", *args]


def _count(db: Path) -> int:
    """Committed paper rows, 0 while the database or its tables do not exist yet."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _table(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        query = "SELECT id, content_hash, version, categories, date FROM papers ORDER BY id"
        return conn.execute(query).fetchall()


def _orphans(db: Path) -> int:
    """Paper rows without their paper_sources row: a half-written batch would leave some."""
    with sqlite3.connect(db) as conn:
        query = "SELECT COUNT(*) FROM papers WHERE id NOT IN (SELECT paper_id FROM paper_sources)"
        return conn.execute(query).fetchone()[0]


@pytest.mark.timeout(120)
def test_killed_ingest_leaves_whole_batches_and_rerun_completes(tmp_path):
    pool = _write_pool(tmp_path / "pool.jsonl", N_PAPERS)
    home = tmp_path / "crashed"
    db = home / "paperrec.sqlite"
    proc = subprocess.Popen(
        _ingest_cmd(str(pool)), env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while _count(db) < 4 * BATCH and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    if finished:
        pytest.fail("ingest finished before it could be killed; raise N_PAPERS")

    partial = _count(db)
    assert 0 < partial < N_PAPERS
    assert partial % BATCH == 0, f"{partial} rows is not a whole number of {BATCH}-paper batches"
    assert _orphans(db) == 0

    rerun = subprocess.run(
        _ingest_cmd(str(pool), "--json"), env=_env(home), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["added"], summary["unchanged"]) == (N_PAPERS - partial, partial)
    assert summary["updated"] == 0 and summary["problems"] == 0

    from paperrec.config import Settings
    from paperrec.store import Store

    clean = Settings(home=tmp_path / "clean")
    ingest_paths(Store(clean).papers, [pool], batch_size=BATCH)
    final = _table(db)
    assert len(final) == len({row[0] for row in final}) == N_PAPERS
    assert final == _table(clean.home / "paperrec.sqlite")
    assert _orphans(db) == 0


# -- the command line ---------------------------------------------------------------------
runner = CliRunner()


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "2401.00001", "title": "Good", "abstract": "A fine abstract."})
GOOD2 = json.dumps({"id": "2401.00002", "title": "Also Good", "abstract": "Fine again."})
EMPTY_ABSTRACT = json.dumps({"id": "2401.00003", "title": "Empty", "abstract": ""})


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_strict_writes_nothing_and_lists_file_and_line(home, store, tmp_path):
    ok = _jsonl(tmp_path / "ok.jsonl", [GOOD])
    bad = _jsonl(tmp_path / "bad.jsonl", [GOOD2, "{not json", EMPTY_ABSTRACT])
    result = runner.invoke(app, ["ingest", str(ok), str(bad), "--strict"])
    assert result.exit_code == 1
    _no_traceback(result)
    assert f"{bad}:2: malformed JSON" in result.stderr
    assert f"{bad}:3: empty abstract" in result.stderr
    assert "2 bad record(s), nothing written" in result.stderr
    assert store.papers.count() == 0


def test_strict_with_clean_files_ingests(home, store, tmp_path):
    ok = _jsonl(tmp_path / "ok.jsonl", [GOOD, GOOD2])
    result = runner.invoke(app, ["ingest", str(ok), "--strict", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 2
    assert store.papers.count() == 2


def test_non_strict_summary_counts_problems(home, store, tmp_path):
    bad = _jsonl(tmp_path / "bad.jsonl", [GOOD, "{not json", EMPTY_ABSTRACT, GOOD2, "[]"])
    result = runner.invoke(app, ["ingest", str(bad), "--json"])
    assert result.exit_code == 0, result.output
    _no_traceback(result)
    summary = json.loads(result.stdout)
    assert summary == {
        "files": 1, "read": 2, "added": 2, "updated": 0, "unchanged": 0,
        "older_versions_skipped": 0, "problems": 3,
    }  # fmt: skip
    for line in (2, 3, 5):
        assert f"skipped {bad}:{line}: " in result.stderr
    assert store.papers.count() == 2


def test_unknown_format_lists_the_valid_ones(home, tmp_path):
    ok = _jsonl(tmp_path / "ok.jsonl", [GOOD])
    result = runner.invoke(app, ["ingest", str(ok), "--format", "yaml"])
    assert result.exit_code == 1
    _no_traceback(result)
    expected = "unknown format 'yaml'; available: auto, hf-page, jsonl, csv, parquet, arxiv-atom"
    assert expected in result.stderr


def test_undetectable_format_asks_for_format_before_writing(home, store, tmp_path):
    ok = _jsonl(tmp_path / "ok.jsonl", [GOOD])
    odd = tmp_path / "papers.dat"
    odd.write_text("id;title;abstract\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(ok), str(odd)])
    assert result.exit_code == 1
    _no_traceback(result)
    assert f"{odd}: cannot tell the format" in result.stderr
    assert "pass --format, one of: hf-page, jsonl, csv, parquet, arxiv-atom" in result.stderr
    assert store.papers.count() == 0  # ok.jsonl, listed first, was not half-ingested


def test_missing_file(home, tmp_path):
    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(app, ["ingest", str(missing)])
    assert result.exit_code == 1
    _no_traceback(result)
    assert f"{missing}: no such source file or folder" in result.stderr
    with pytest.raises(InputError, match="no such file"):
        ingest_paths(None, [missing])


def test_explicit_format_overrides_the_suffix(home, store, tmp_path):
    odd = tmp_path / "papers.dat"
    odd.write_text(GOOD + "\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(odd), "--format", "jsonl", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    assert store.papers.stats()["by_source"] == {"jsonl": 1}
