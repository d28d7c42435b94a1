"""`paperrec ingest` and `paperrec stats` as a user runs them, and the live arXiv command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperrec.cli import app

ATOM = Path(__file__).parent / "fixtures" / "arxiv"
runner = CliRunner()


def _pool(path: Path) -> Path:
    rows = [
        {"id": f"2402.{n:05d}", "title": f"Paper {n}", "abstract": f"Abstract of paper {n}.",
         "categories": ["cs.CL", "cs.LG"], "date": "2024-02-01"}
        for n in range(1, 6)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ingest_then_stats_json(home, tmp_path):
    pool = _pool(tmp_path / "pool.jsonl")
    result = runner.invoke(app, ["ingest", str(pool), str(ATOM / "atom_v1.xml")])
    assert result.exit_code == 0, result.output
    assert "2 file(s), 8 papers read: 8 added" in " ".join(result.stdout.split())

    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["papers"] == 8
    assert stats["by_source"] == {"jsonl": 5, "arxiv-atom": 3}
    assert stats["by_primary_category"]["cs.CL"] == 5
    assert stats["by_month"]["2024-02"] == 5


def test_stats_tables(home, tmp_path):
    runner.invoke(app, ["ingest", str(_pool(tmp_path / "pool.jsonl"))])
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "5 papers" in result.stdout
    for heading in ("papers by source", "papers by primary category", "papers by month"):
        assert heading in result.stdout


def test_stats_on_an_empty_home(home):
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["papers"] == 0


@pytest.mark.timeout(60)
def test_ingest_arxiv_without_network_is_one_clear_line(home):
    result = runner.invoke(app, ["ingest", "arxiv", "--category", "cs.LG", "--days", "2"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot reach the arXiv API (export.arxiv.org): ")
    assert "--format arxiv-atom" in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "ingest arxiv needs at least one --category, for example --category cs.LG"),
        ([], "or --id ARXIV_ID"),
        (["--id", "cs.LG"], "'cs.LG' is not an arXiv id"),
        (["--category", "cz.LG"], "unknown arXiv archive 'cz'; available: astro-ph, cond-mat"),
        (["--category", "cs LG"], "arXiv category 'cs LG' is malformed"),
        (["--category", "cs.LG", "--days", "0"], "must be at least 1"),
    ],
)
def test_ingest_arxiv_bad_arguments(home, args, expected):
    result = runner.invoke(app, ["ingest", "arxiv", *args])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert expected in result.stderr


@pytest.mark.timeout(60)
def test_ingest_arxiv_in_a_real_process_exits_1_without_traceback(home):
    env = {**os.environ, "PAPERREC_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", "ingest", "arxiv", "--category", "cs.LG",
         "--days", "2"],
        env=env, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "cannot reach the arXiv API" in proc.stderr
