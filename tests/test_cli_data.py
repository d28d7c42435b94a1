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
from test_sources_arxiv import api  # noqa: F401  (a local arXiv API, a fixture)

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
    # the encoder in use and why (the suite sets the torch backend; see tests/conftest.py)
    assert stats["embedding"]["backend"] == "torch"
    assert stats["embedding"]["chosen_by"] in {"set", "default"}


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


# -- one road: the command reads every spec `paperrec.papers.sources.expand` knows ----------
def test_ingest_reads_a_folder_and_a_glob(home, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _pool(folder / "pool.jsonl")
    (folder / "notes.md").write_text("not a paper source\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == 1 and json.loads(result.stdout)["added"] == 5

    result = runner.invoke(app, ["ingest", str(folder / "*.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unchanged"] == 5


@pytest.fixture()
def local_arxiv(api, monkeypatch):  # noqa: F811
    """``fetch_ids`` of the ingest asks the local arXiv API of test_sources_arxiv."""
    from paperrec.papers.sources import arxiv_api

    real = arxiv_api.fetch_ids
    monkeypatch.setattr(
        arxiv_api, "fetch_ids", lambda ids, **kw: real(ids, retries=0, api_url=api.url)
    )
    return api


@pytest.mark.timeout(60)
def test_ingest_takes_arxiv_ids_beside_files(home, tmp_path, local_arxiv):
    pool = _pool(tmp_path / "pool.jsonl")
    result = runner.invoke(app, ["ingest", "arxiv:2401.01234", "2312.09876", str(pool), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 7
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert stats["by_source"] == {"jsonl": 5, "arxiv-api": 2}


@pytest.mark.timeout(60)
def test_an_unknown_id_is_a_problem_and_strict_writes_nothing(home, tmp_path, local_arxiv):
    pool = _pool(tmp_path / "pool.jsonl")
    result = runner.invoke(app, ["ingest", "--strict", "arxiv:2499.99999", str(pool)])
    assert result.exit_code == 1
    assert "--strict: 1 bad record(s), nothing written" in result.stderr
    assert "2499.99999" in result.stderr
    assert json.loads(runner.invoke(app, ["stats", "--json"]).stdout)["papers"] == 0

    result = runner.invoke(app, ["ingest", "arxiv", "--id", "2499.99999", "--id", "2401.01234"])
    assert result.exit_code == 0, result.output
    assert "2499.99999" in result.stderr
    assert "1 papers read: 1 added" in " ".join(result.stdout.split())


# -- --ray [ADDRESS] of the bulk commands (embed, score, backfill) ---------------------------
def _parsed(name: str, args: list[str]) -> dict:
    """The parameters ``paperrec NAME ARGS`` calls its function with (parsed, not run)."""
    import typer.main

    command = typer.main.get_command(app).commands[name]
    return command.make_context(name, args).params


@pytest.mark.parametrize(
    ("name", "args", "ray", "address"),
    [
        ("embed", [], False, None),
        ("embed", ["--ray"], True, None),  # alone: RAY_ADDRESS, else a Ray started here
        ("embed", ["--ray", "--limit", "3"], True, None),
        ("embed", ["--limit", "3", "--ray"], True, None),
        ("embed", ["--ray", "ray://head:10001"], True, "ray://head:10001"),
        ("embed", ["--ray=10.0.0.5:6379", "--limit", "3"], True, "10.0.0.5:6379"),
        ("score", ["in.jsonl", "-o", "out.jsonl", "--ray"], True, None),
        ("score", ["in.jsonl", "--ray", "auto", "-o", "out.jsonl"], True, "auto"),
        ("backfill", ["dump.jsonl", "--ray", "-o", "shards"], True, None),
        ("backfill", ["dump.jsonl", "-o", "shards", "--ray", "head:6379"], True, "head:6379"),
    ],
)
def test_ray_alone_or_with_an_address(name, args, ray, address):
    from paperrec.cli.app import ray_options

    params = _parsed(name, args)
    assert ray_options(params["ray"]) == {"ray": ray, "address": address}
    if name != "embed":  # the arguments around --ray are read as before
        assert params["output"].name in ("out.jsonl", "shards")


@pytest.mark.parametrize(
    "address",
    ["nonsense", "ray://", "head:port", "head:0", "head:99999", "http://head:8265",
     "two words:6379", "[::1]6379", "dump.jsonl"],
)  # fmt: skip
def test_a_bad_ray_address_is_one_line_and_nothing_is_done(address, home, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'paperrec[ray]')")
    source = _pool(tmp_path / "pool.jsonl")
    out = tmp_path / "shards"
    for args in (
        ["embed", "--ray", address],
        ["score", str(source), "-o", str(tmp_path / "scored.jsonl"), "--ray", address],
        ["backfill", str(source), "-o", str(out), "--ray", address],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.stderr.strip().splitlines() == [
            f"error: --ray {address!r} is not a Ray address; give ray://HEAD:10001 (Ray "
            "Client), HEAD:6379 (from a node of the cluster), auto or local"
        ]
    assert not out.exists() and not (tmp_path / "scored.jsonl").exists()


@pytest.mark.timeout(60)
def test_a_ray_cluster_that_does_not_answer_is_one_line_in_a_real_process(home):
    """``--ray ADDRESS`` is the cluster used: a head that is not there fails at once (Ray
    itself would retry for minutes)."""
    import socket

    pytest.importorskip("ray", reason="Ray is not installed (pip install 'paperrec[ray]')")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**os.environ, "PAPERREC_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", "embed", "--ray", f"127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot reach the Ray cluster at 127.0.0.1:{port}: ")
