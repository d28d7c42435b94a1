"""Per-user digest budgets: the rules (paperrec.digest.budget), how they are stored with the user
(schema version 2), and ``paperrec user add/set`` options."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, func, inspect, select

from digest_helpers import cli
from paperrec.digest.budget import (
    DigestSettings,
    apply_budget,
    describe,
    format_quota,
    is_due,
    parse_quota,
)
from paperrec.errors import InputError
from paperrec.recommend.window import window
from paperrec.store.db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    V1_TABLES,
    digest_settings,
    meta,
    metadata,
    open_engine,
    outbox,
)
from paperrec.users.profiles import add_user, delete_user, export_user

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL


@dataclass
class Item:
    id: str
    score: float


D = dt.date(2024, 3, 8)


# -- rules --------------------------------------------------------------------------------
def test_defaults_and_validation():
    assert DigestSettings() == DigestSettings(10, None, "daily", {}, False, False)
    for bad, message in [
        ({"k": 0}, "k must be a whole number from 1 to 100, got 0"),
        ({"k": 101}, "got 101"),
        ({"cadence": "hourly"}, "unknown cadence 'hourly'; available: daily, weekly"),
        ({"min_score": float("nan")}, "NaN"),
        ({"topic_quota": {"llm": 0}}, "topic quota for 'llm' must be at least 1"),
    ]:
        with pytest.raises(InputError, match=message):
            DigestSettings(**bad)


def test_quota_text_round_trips_and_names_what_is_wrong():
    assert parse_quota("") == {}
    assert parse_quota(" 3 ") == {"*": 3}
    assert parse_quota("llm=2, robotics=4,*=3") == {"llm": 2, "robotics": 4, "*": 3}
    assert format_quota({"llm": 2, "*": 3}) == "llm=2,*=3" and format_quota({"*": 3}) == "3"
    with pytest.raises(InputError, match=r"part 'llm' is not TOPIC=N"):
        parse_quota("llm")
    with pytest.raises(InputError, match=r"part 'llm=two' is not TOPIC=N"):
        parse_quota("llm=two")
    with pytest.raises(InputError, match="names 'llm' twice"):
        parse_quota("llm=1,llm=2")
    with pytest.raises(InputError, match="must be at least 1, got 0"):
        parse_quota("0")
    with pytest.raises(InputError, match="unknown topic in the quota 'nlp'; available: cv, llm"):
        parse_quota("nlp=2", known_topics=["llm", "cv"])


def test_cadence_and_window():
    assert is_due("daily", D, None) and is_due("daily", D, D - dt.timedelta(days=1))
    assert not is_due("daily", D, D)
    assert not is_due("weekly", D, D - dt.timedelta(days=6))
    assert is_due("weekly", D, D - dt.timedelta(days=7)) and is_due("weekly", D, None)
    # a first digest looks back max_days; later ones start on the last digest's day
    assert window(D, None, 7) == (D - dt.timedelta(days=6), D)
    assert window(D, D - dt.timedelta(days=1), 7) == (D - dt.timedelta(days=1), D)
    assert window(D, D - dt.timedelta(days=30), 7) == (D - dt.timedelta(days=6), D)
    with pytest.raises(InputError, match="look-back must be at least 1 day"):
        window(D, None, 0)


def test_budget_cuts_by_k_minimum_score_and_topic_quota():
    ranked = [Item(f"p{i}", 10 - i) for i in range(10)]
    topics = {"p0": "llm", "p1": "llm", "p2": "llm", "p3": "cv", "p4": None, "p5": "llm"}
    assert [i.id for i in apply_budget(ranked, topics, DigestSettings(k=3))] == ["p0", "p1", "p2"]
    cut = apply_budget(ranked, topics, DigestSettings(k=10, min_score=7.5))
    assert [i.id for i in cut] == ["p0", "p1", "p2"]  # scores 10, 9, 8
    quota = DigestSettings(k=4, topic_quota={"llm": 1, "*": 5})
    assert [i.id for i in apply_budget(ranked, topics, quota)] == ["p0", "p3", "p4", "p6"]
    every = DigestSettings(k=10, topic_quota={"*": 2})  # papers without a topic are not limited
    assert [i.id for i in apply_budget(ranked, topics, every)][:4] == ["p0", "p1", "p3", "p4"]
    assert describe(every) == "daily, up to 10 papers, at most 2 per topic"
    assert describe(DigestSettings(k=1, min_score=0.5, cadence="weekly", topic_quota={"x": 1})) == (
        "weekly, up to 1 paper, score at least 0.5, topic quota x=1"
    )


# -- storage ------------------------------------------------------------------------------
def test_settings_are_stored_with_the_user_exported_and_deleted(store):
    add_user(store, "ada", "ada@example.org")
    assert store.users.digest_settings("ada") == DigestSettings()
    chosen = DigestSettings(k=5, min_score=0.25, cadence="weekly", topic_quota={"llm": 2},
                            empty_notice=True, trending=True)  # fmt: skip
    store.users.set_digest_settings("ada", chosen)
    assert store.users.digest_settings("ada") == chosen
    assert store.users.digest_settings_many(["ada"]) == {"ada": chosen}
    data = export_user(store, "ada")
    assert data["digest_settings"]["topic_quota"] == {"llm": 2} and data["digests"] == []
    json.dumps(data)
    delete_user(store, "ada")
    with store.engine.connect() as conn:
        assert conn.execute(select(digest_settings)).all() == []


def test_a_budget_set_while_another_writer_sets_one_is_stored_not_refused(store):
    """Two writers setting one user's first budget at once (two workers answering the
    preferences page, a CLI ``user set``): on PostgreSQL the second insert used to fail on
    the key the first committed; now the later write wins and nothing is refused."""
    add_user(store, "ada", "ada@example.org")
    user_id = store.users.get("ada").id
    errors: list[Exception] = []

    def set_budget() -> None:
        try:
            store.users.set_digest_settings("ada", DigestSettings(k=7))
        except Exception as exc:  # noqa: BLE001  (the test reports what was raised)
            errors.append(exc)

    other_row = {**DigestSettings(k=3).as_dict(), "topic_quota": "{}", "updated_at": "x"}
    with store.engine.connect() as other:  # another writer, its row inserted, not committed
        transaction = other.begin()
        other.execute(digest_settings.insert().values(user_id=user_id, **other_row))
        writer = threading.Thread(target=set_budget)
        writer.start()
        writer.join(timeout=1)  # waits on the other's key (PostgreSQL) or lock (SQLite)
        transaction.commit()
        writer.join(timeout=30)
    assert not writer.is_alive() and errors == []
    assert store.users.digest_settings("ada") == DigestSettings(k=7)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(digest_settings)).scalar() == 1


def test_a_version_1_database_is_migrated_to_version_2(tmp_path):
    path = tmp_path / "old.sqlite"
    old = create_engine(f"sqlite:///{path}")
    with old.begin() as conn:  # what paperrec wrote before digests had settings and an outbox
        MIGRATIONS[1](conn)
        conn.execute(meta.insert().values(key="schema_version", value="1"))
        conn.execute(metadata.tables["users"].insert().values(
            name="ada", email="ada@example.org", topics="[]", created_at="2024-01-01T00:00:00",
        ))  # fmt: skip
    assert set(inspect(old).get_table_names()) == {t.name for t in V1_TABLES}
    engine = open_engine(f"sqlite:///{path}")
    tables = set(inspect(engine).get_table_names())
    assert {"digest_settings", "outbox"} <= tables
    with engine.connect() as conn:
        version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version"))
        assert int(version.scalar()) == SCHEMA_VERSION >= 2
        assert conn.execute(select(outbox)).all() == []
        assert conn.execute(select(metadata.tables["users"].c.name)).scalars().all() == ["ada"]
    fresh = open_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    for table in ("digest_settings", "outbox"):
        columns = {c["name"] for c in inspect(fresh).get_columns(table)}
        assert columns == {c["name"] for c in inspect(engine).get_columns(table)}


# -- CLI ----------------------------------------------------------------------------------
def test_user_add_and_set_change_the_budget(home):
    result = cli("user", "add", "ada", "--email", "ada@example.org", "--k", "5", "--trending")
    assert result.exit_code == 0, result.stderr
    assert "digest: daily, up to 5 papers, trending" in result.stdout
    result = cli("user", "set", "ada", "--cadence", "weekly", "--min-score", "0.5",
                 "--topic-quota", "3", "--empty-notice")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "ada digest: weekly, up to 5 papers, score at least 0.5, at most 3 per topic, "
        "notice on empty days, trending"
    )
    cleared = cli("user", "set", "ada", "--min-score", "none", "--topic-quota", "none",
                  "--no-trending")  # fmt: skip
    assert cleared.stdout.strip() == "ada digest: weekly, up to 5 papers, notice on empty days"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "0"], "k must be a whole number from 1 to 100, got 0"),
        (["--cadence", "monthly"], "unknown --cadence 'monthly'; available: daily, weekly"),
        (["--min-score", "high"], "--min-score 'high' is not a number (or 'none')"),
        (["--min-score", "inf"], "--min-score must be a finite number"),
        (["--topic-quota", "nope=2"], "unknown topic in the quota 'nope'; available: "),
        (["--topic-quota", "a=b"], "topic quota part 'a=b' is not TOPIC=N"),
    ],
)
def test_bad_budget_options_are_refused_and_nothing_is_written(home, args, message):
    result = cli("user", "add", "ada", "--email", "ada@example.org", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert cli("user", "list", "--json").stdout.strip() == "[]"  # the user was not added
    assert cli("user", "add", "ada", "--email", "ada@example.org").exit_code == 0
    result = cli("user", "set", "ada", *args)
    assert result.exit_code == 1 and message in result.stderr


def test_set_for_an_unknown_user_lists_the_users(home):
    cli("user", "add", "ada", "--email", "ada@example.org")
    result = cli("user", "set", "bob", "--k", "3")
    assert result.exit_code == 1
    assert "unknown user 'bob'; available: ada" in result.stderr
