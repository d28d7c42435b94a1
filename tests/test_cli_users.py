"""``paperrec user ...`` and ``paperrec feedback`` through the real CLI (CliRunner)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.schema import Paper

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL

FIXTURES = Path(__file__).parent / "fixtures"
ABSTRACT = (
    "We study a topic with a simple method and report results on several benchmarks, "
    "showing consistent gains over strong baselines across settings."
)


@pytest.fixture()
def run(store):
    """Invoke the CLI on the test's PAPERREC_HOME, whose store holds three papers."""
    store.papers.upsert(
        [
            Paper.create("Sparse Attention", ABSTRACT, id="2401.00001"),
            Paper.create("Graph Networks", ABSTRACT, id="2401.00002"),
            Paper.create("Attention Is All You Need", ABSTRACT, id="1706.03762"),
        ],
        "jsonl",
    )
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture()
def no_taxonomy(monkeypatch):
    monkeypatch.setitem(sys.modules, "paperrec.topics.taxonomy", None)  # import fails


@pytest.fixture()
def taxonomy(monkeypatch):
    fake = types.ModuleType("paperrec.topics.taxonomy")
    fake.load_taxonomy = lambda path=None: types.SimpleNamespace(ids=("nlp", "rl", "vision"))
    monkeypatch.setitem(sys.modules, "paperrec.topics.taxonomy", fake)


def test_user_add_with_ids_and_files(run, tmp_path, no_taxonomy):
    liked = tmp_path / "liked.jsonl"
    liked.write_text(json.dumps({"id": "2402.00009", "title": "Code", "abstract": ABSTRACT}) + "\n")
    result = run(
        "user", "add", "ada", "--email", "ada@example.org", "--topics", "nlp,anything",
        "--seed", "2401.00001v2,2401.00002", "--seed", str(liked),
        "--seed", str(FIXTURES / "seeds.bib"),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "added user ada <ada@example.org>: 6 seed paper(s) (3 new to the store)" in result.stdout
    assert "topics: nlp, anything" in result.stdout
    assert "seeds.bib:30" in result.stderr  # the skipped entry
    listed = json.loads(run("user", "list", "--json").stdout)
    assert [(u["name"], u["feedback"]) for u in listed] == [("ada", 6)]


def test_user_add_checks_topics_against_the_taxonomy(run, taxonomy):
    result = run("user", "add", "ada", "--email", "ada@example.org", "--topics", "nlp,bogus")
    assert result.exit_code == 1
    assert "unknown topic 'bogus'; available: nlp, rl, vision" in result.stderr
    ok = run("user", "add", "ada", "--email", "ada@example.org", "--topics", "nlp,rl")
    assert ok.exit_code == 0, ok.stderr


def test_user_add_unknown_seed_ids(run, no_taxonomy):
    seeds = "2401.00001,2499.12345"
    result = run("user", "add", "bo", "--email", "bo@example.org", "--seed", seeds)
    assert result.exit_code == 1
    assert "unknown seed paper" in result.stderr and "2499.12345" in result.stderr
    assert "ingest" in result.stderr
    assert "no users yet" in run("user", "list").stdout


def test_feedback_command(run, no_taxonomy):
    run("user", "add", "cy", "--email", "cy@example.org")
    result = run("feedback", "cy", "2401.00002v1", "up")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("cy: up 2401.00002 (cli, ")
    bad = run("feedback", "cy", "2401.00002", "love")
    assert bad.exit_code == 1
    assert "unknown signal 'love'; available: up, down, saved, dismissed" in bad.stderr
    nobody = run("feedback", "zed", "2401.00002", "up")
    assert nobody.exit_code == 1 and "available: cy" in nobody.stderr


def test_export_to_file_and_stdout(run, tmp_path, no_taxonomy):
    run("user", "add", "di", "--email", "di@example.org", "--seed", "2401.00001")
    run("feedback", "di", "2401.00002", "down")
    out = tmp_path / "exports" / "di.json"
    result = run("user", "export", "di", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text())
    assert [f["signal"] for f in data["feedback"]] == ["seed", "down"]
    assert json.loads(run("user", "export", "di").stdout)["feedback"] == data["feedback"]
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind


def test_delete_asks_unless_yes(run, no_taxonomy):
    run("user", "add", "ed", "--email", "ed@example.org", "--seed", "2401.00001")
    kept = run("user", "delete", "ed", input="n\n")
    assert kept.exit_code == 1 and "not deleted" in kept.stderr
    gone = run("user", "delete", "ed", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert "deleted user ed: 1 feedback event(s), 0 shown paper(s), 0 API key(s)" in gone.stdout
    assert run("user", "delete", "ed", "--yes").exit_code == 1


def test_key_command(run, store, no_taxonomy):
    run("user", "add", "fa", "--email", "fa@example.org")
    user_key = run("user", "key", "fa")
    assert user_key.exit_code == 0, user_key.stderr
    assert "not shown again" in user_key.stderr
    assert store.keys.owner(user_key.stdout.strip()) == (False, "fa")
    admin_key = run("user", "key", "--admin")
    assert store.keys.owner(admin_key.stdout.strip()) == (True, None)
    for args in (("user", "key"), ("user", "key", "fa", "--admin")):
        result = run(*args)
        assert result.exit_code == 1 and "either a user NAME or --admin" in result.stderr


def test_link_command_prints_a_sign_in_link_that_checks_out(run, store, monkeypatch):
    from paperrec.users.signin import redeem_link

    secret = "cli-link-test-secret-0123456789-abcdef"
    monkeypatch.setenv("PAPERREC_TOKEN_SECRET", secret)
    monkeypatch.setenv("PAPERREC_PUBLIC_URL", "https://papers.example.org")
    run("user", "add", "fa", "--email", "fa@example.org")
    result = run("user", "link", "fa")
    assert result.exit_code == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith("https://papers.example.org/signin/link/")
    assert redeem_link(store, secret, link.rsplit("/", 1)[1]) == "fa"
    unknown = run("user", "link", "nobody")
    assert unknown.exit_code == 1 and "nobody" in unknown.stderr
