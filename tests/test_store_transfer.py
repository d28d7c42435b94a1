"""``paperrec store copy``: an SQLite store moved into a new PostgreSQL database keeps
every row, keeps working (keys, votes, search, digests) and takes new rows after the
copied ones; a target that holds rows is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.config import Settings
from paperrec.schema import Paper
from paperrec.store import NewEntry, Store
from paperrec.users.profiles import add_user

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

PAPERS = [
    Paper.create("Speculative decoding", "Draft tokens, then verify them.", id="2401.00001"),
    Paper.create("Graph transformers", "Attention over the nodes of a graph.", id="2401.00002"),
    Paper.create("A paper seen only on Hugging Face", "No arXiv id for this one."),
]


def test_an_sqlite_store_copied_into_postgres_keeps_every_row(tmp_path, monkeypatch, new_database):
    monkeypatch.setenv("PAPERREC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PAPERREC_DATABASE_URL", raising=False)
    source = Store(Settings())
    source.papers.upsert(PAPERS, "jsonl")
    source.papers.upsert([Paper.create(PAPERS[2].title, PAPERS[2].abstract, id="2401.00003")],
                         "arxiv")  # re-keyed: leaves an alias  # fmt: skip
    add_user(source, "ada", "ada@example.org", seeds=["2401.00001"])
    add_user(source, "bob", "bob@example.org")
    source.users.add_feedback("bob", "2401.00002", "up", "cli")
    key = source.keys.create("ada")
    day = dt.date(2024, 1, 5)
    source.outbox.record(NewEntry("ada", day, "digest", "ada@example.org", "s", "<p>h</p>", "t",
                                  ("2401.00002",), "<m@example.org>"))  # fmt: skip
    before = source.users.export("ada"), source.users.export("bob"), source.papers.stats()
    source.engine.dispose()

    target = new_database()
    result = CliRunner().invoke(app, ["store", "copy", target])
    assert result.exit_code == 0, result.output
    assert "copied" in result.output and "papers 3" in result.output

    monkeypatch.setenv("PAPERREC_DATABASE_URL", target)
    copy = Store(Settings())
    assert (copy.users.export("ada"), copy.users.export("bob"), copy.papers.stats()) == before
    assert copy.keys.owner(key) == (False, "ada")
    assert copy.papers.resolve_ids([PAPERS[2].id]) == {PAPERS[2].id: "2401.00003"}
    assert copy.papers.search_text("speculative") == ["2401.00001"]
    add_user(copy, "carl", "carl@example.org")  # new ids follow the copied ones
    assert copy.users.get("carl").id == 3
    copy.users.add_feedback("carl", "2401.00001", "up", "web")
    assert copy.activity.like_counts(["2401.00001", "2401.00002"]) == {
        "2401.00001": 1,
        "2401.00002": 1,
    }
    assert copy.outbox.claim(copy.outbox.get("ada", day).id)
    copy.engine.dispose()

    same = CliRunner().invoke(app, ["store", "copy", target])
    assert same.exit_code == 1 and "the source and the target are the same" in same.output
    monkeypatch.delenv("PAPERREC_DATABASE_URL")
    again = CliRunner().invoke(app, ["store", "copy", target])
    assert again.exit_code == 1
    assert "the target database is not empty (3 papers" in again.output
