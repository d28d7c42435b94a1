"""Stored users end to end through the CLI: add, recommend, feedback, export, delete.

Runs on a copy of the session's trained installation, so the shared one stays untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from paperrec.cli import app

K = 5


@pytest.fixture()
def home(trained_home, session_cache, tmp_path, monkeypatch):
    """A private copy of the trained home whose embedding cache already holds its papers."""
    path = tmp_path / "home"
    shutil.copytree(trained_home, path)
    with (
        sqlite3.connect(session_cache.path) as source,
        sqlite3.connect(path / "embeddings.sqlite") as target,
    ):
        source.backup(target)  # the fixture embedded into the session cache, not its own
    monkeypatch.setenv("PAPERREC_HOME", str(path))
    monkeypatch.delenv("PAPERREC_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


@pytest.fixture()
def cli(home):
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args))
        return result

    return invoke


@pytest.fixture()
def store(home):
    from paperrec.config import Settings
    from paperrec.store import Store

    return Store(Settings())


@pytest.fixture()
def seeds(store) -> list[str]:
    """Three papers from the newest month that share a theme (language models)."""
    newest = store.papers.latest_date()
    week = store.papers.iter_papers(since=newest - dt.timedelta(days=30), until=newest)
    themed = [p.id for p in week if "language model" in p.text.lower()]
    assert len(themed) >= 3
    return themed[:3]


def recommend(cli, *extra: str) -> list[dict]:
    result = cli("recommend", "ada", "--json", "-k", str(K), *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def add_ada(cli, seeds: list[str]) -> None:
    result = cli("user", "add", "ada", "--email", "ada@example.org", "--seed", ",".join(seeds))
    assert result.exit_code == 0, result.stderr


def test_recommend_shows_new_papers_each_time(cli, seeds):
    add_ada(cli, seeds)
    first = recommend(cli)
    assert len(first) == K
    assert [r["rank"] for r in first] == list(range(1, K + 1))
    assert all(r["reasons"] and r["title"] for r in first)
    assert not {r["id"] for r in first} & set(seeds)
    second = recommend(cli)
    assert len(second) == K
    assert not {r["id"] for r in second} & {r["id"] for r in first}  # shown papers are not repeated
    assert not {r["id"] for r in second} & set(seeds)


def test_dry_run_does_not_mark_papers_as_shown(cli, seeds):
    add_ada(cli, seeds)
    preview = recommend(cli, "--dry-run")
    assert [r["id"] for r in recommend(cli, "--dry-run")] == [r["id"] for r in preview]
    assert [r["id"] for r in recommend(cli)] == [r["id"] for r in preview]
    exported = json.loads(cli("user", "export", "ada").stdout)
    assert sorted(s["paper_id"] for s in exported["shown"]) == sorted(r["id"] for r in preview)


def test_feedback_down_excludes_the_paper_and_lowers_similar_ones(cli, seeds, store, embedder):
    add_ada(cli, seeds)
    everything = recommend(cli, "--dry-run", "-k", "1000")
    disliked = everything[0]["id"]
    result = cli("feedback", "ada", disliked, "down")
    assert result.exit_code == 0, result.stderr
    after = recommend(cli, "--dry-run", "-k", "1000")
    assert disliked not in {r["id"] for r in after}
    lowered = [r for r in after if any(x["kind"] == "similar_to_disliked" for x in r["reasons"])]
    assert all(
        next(x for x in r["reasons"] if x["kind"] == "similar_to_disliked")["paper_id"] == disliked
        for r in lowered
    )
    # The candidates most like the disliked paper lose ground on average.
    papers = {p.id: p for p in store.papers.get_many([r["id"] for r in everything])}
    X = embedder.embed([papers[r["id"]] for r in everything])
    similar = [everything[i]["id"] for i in np.argsort(-(X @ X[0]))[1:4]]
    rank_before = {r["id"]: r["rank"] for r in everything}
    rank_after = {r["id"]: r["rank"] for r in after}
    assert np.mean([rank_after[i] - rank_before[i] for i in similar]) > 0, similar


def test_export_holds_every_feedback_event_with_time_and_source(cli, seeds):
    add_ada(cli, seeds)
    shown = recommend(cli)
    assert cli("feedback", "ada", shown[0]["id"], "up").exit_code == 0
    assert cli("feedback", "ada", shown[1]["id"], "down").exit_code == 0
    result = cli("user", "export", "ada")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    events = {(e["paper_id"], e["signal"]): e for e in data["feedback"]}
    assert {(s, "seed") for s in seeds} <= set(events)
    assert {(shown[0]["id"], "up"), (shown[1]["id"], "down")} <= set(events)
    for event in data["feedback"]:  # seeds came with the user, votes from the CLI
        assert event["source"] == ("seed" if event["signal"] == "seed" else "cli"), event
        assert dt.datetime.fromisoformat(event["created_at"])
    assert sorted(s["paper_id"] for s in data["shown"]) == sorted(r["id"] for r in shown)
    liked = [x["paper_id"] for x in data["profile"]["liked"]]
    assert set(liked) == {*seeds, shown[0]["id"]}
    assert data["profile"]["disliked"] == [shown[1]["id"]]


def test_delete_removes_the_user_and_everything_about_them(cli, seeds):
    add_ada(cli, seeds)
    shown = recommend(cli)
    assert cli("feedback", "ada", shown[0]["id"], "down").exit_code == 0
    result = cli("user", "delete", "ada", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "deleted user ada: 4 feedback event(s), 5 shown paper(s), 0 API key(s)" in result.stdout
    assert json.loads(cli("user", "list", "--json").stdout) == []
    assert cli("user", "export", "ada").exit_code == 1
    # the name is free again, and the new ada starts with nothing shown
    add_ada(cli, seeds)
    data = json.loads(cli("user", "export", "ada").stdout)
    assert data["shown"] == [] and len(data["feedback"]) == 3


def test_recommend_for_an_unknown_user_lists_the_users(cli, seeds):
    add_ada(cli, seeds)
    assert cli("user", "add", "bo", "--email", "bo@example.org", "--seed", seeds[0]).exit_code == 0
    result = cli("recommend", "nobody", "--json")
    assert result.exit_code == 1
    assert "unknown user 'nobody'; available: ada, bo" in result.stderr
    assert result.stdout == ""
