"""Users, seeds and feedback: paperrec.users.profiles, paperrec.papers.seeds and the users store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from paperrec.errors import InputError, NotFoundError
from paperrec.papers.seeds import ArxivRef, parse_bibtex, read_seeds
from paperrec.papers.sources import Problem
from paperrec.papers.sources.arxiv_api import fetch_ids
from paperrec.schema import FeedbackSource, Paper, Signal
from paperrec.store.db import api_keys, feedback, paper_sources, shown, users
from paperrec.users.profiles import (
    add_user,
    delete_user,
    export_user,
    list_users,
    record_feedback,
)
from paperrec.users.ranking_profile import user_profile
from test_sources_arxiv import api  # noqa: F401  (a local arXiv API, a fixture)

FIXTURES = Path(__file__).parent / "fixtures"

ABSTRACT = (
    "We study {topic} with a simple method and report results on several benchmarks, "
    "showing consistent gains over strong baselines across settings."
)


def paper(pid: str | None, title: str) -> Paper:
    return Paper.create(title, ABSTRACT.format(topic=title.lower()), id=pid)


@pytest.fixture()
def stocked(store):
    """A store holding three arXiv papers."""
    store.papers.upsert(
        [
            paper("2401.00001", "Sparse Attention for Long Documents"),
            paper("2401.00002v2", "Graph Networks for Molecules"),
            paper("2401.00003", "Diffusion Models for Audio"),
        ],
        "jsonl",
    )
    return store


def count_rows(store, table, user_id: int) -> int:
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.user_id == user_id)
        return conn.execute(query).scalar_one()


# -- adding users -------------------------------------------------------------------------
def test_add_user_with_ids_stores_seed_events(stocked):
    added = add_user(
        stocked,
        "ada",
        "ada@example.org",
        "nlp.attention, ml.graphs",
        ["2401.00001v3, https://arxiv.org/abs/2401.00002", "arXiv:2401.00001"],
    )
    assert added.seeds == ("2401.00001", "2401.00002")
    assert added.user.topics == ("nlp.attention", "ml.graphs")
    events = stocked.users.feedback("ada")
    assert [(e.paper_id, e.signal, e.source) for e in events] == [
        ("2401.00001", Signal.SEED, FeedbackSource.SEED),
        ("2401.00002", Signal.SEED, FeedbackSource.SEED),
    ]
    assert all(e.created_at.tzinfo is not None for e in events)
    assert user_profile(stocked, "ada").liked_ids == ("2401.00001", "2401.00002")


def test_add_user_with_jsonl_seed_file_ingests_papers(store, tmp_path):
    path = tmp_path / "liked.jsonl"
    rows = [
        {"id": "2402.00001", "title": "Code Search", "abstract": ABSTRACT.format(topic="code")},
        {"title": "An Untitled Idea", "abstract": ABSTRACT.format(topic="ideas")},
        {"id": "2402.00003", "title": "", "abstract": "no title"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    added = add_user(store, "bo", "bo@example.org", seeds=[path])
    assert added.seeds[0] == "2402.00001"
    assert added.seeds[1].startswith("title:")
    assert added.ingested.added == 2
    assert [p.line for p in added.problems] == [3]
    assert {p.id for p in store.papers.iter_papers(source="seed")} == set(added.seeds)


def test_add_user_with_bibtex_seed_file(store):
    store.papers.upsert([paper("1706.03762", "Attention Is All You Need")], "jsonl")
    added = add_user(store, "cy", "cy@example.org", seeds=[FIXTURES / "seeds.bib"])
    assert added.seeds[0] == "2206.11795"
    assert added.seeds[1].startswith("title:")
    assert added.seeds[2] == "1706.03762"  # no abstract in the .bib, found by its arXiv URL
    assert [p.line for p in added.problems] == [30]
    vpt = store.papers.get_many(["2206.11795"])[0]
    assert vpt.title.startswith("Video PreTraining (VPT)")
    assert "Schölkopf" in vpt.abstract
    assert vpt.categories == ("cs.LG",)


def test_bibtex_parser_records():
    records = list(parse_bibtex(FIXTURES / "seeds.bib"))
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["Paper", "Paper", "ArxivRef", "Problem"]
    assert records[2] == ArxivRef("1706.03762v7", str(FIXTURES / "seeds.bib"), 23)
    assert "neither an abstract nor an arXiv id" in records[3].message


def test_malformed_bibtex_is_reported_with_its_line(tmp_path):
    path = tmp_path / "broken.bib"
    path.write_text(
        "@misc{ok, title={Fine}, abstract={" + ABSTRACT.format(topic="x") + "}}\n"
        "@misc{broken,\n title = {Unclosed\n"
        "@misc{later, title={Later}, eprint={2301.00001}}\n"
    )
    records = list(parse_bibtex(path))
    problems = [r for r in records if isinstance(r, Problem)]
    assert len(problems) == 1 and problems[0].line == 2
    assert "unreadable BibTeX" in problems[0].message


def test_add_user_with_hf_page_seed(store, tmp_path):
    page = tmp_path / "liked.txt"
    page.write_text(
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
        "byAK and the research community\n\nMar 12\n\n"
        "Learning to Walk from Videos\n\n" + ABSTRACT.format(topic="walking robots") + "\n\n"
        "Tokenizers Considered Harmful\n\n" + ABSTRACT.format(topic="tokenizers") + "\n"
    )
    added = add_user(store, "di", "di@example.org", seeds=[str(page)])
    titles = [p.title for p in store.papers.get_many(list(added.seeds))]
    assert titles == ["Learning to Walk from Videos", "Tokenizers Considered Harmful"]


def test_unknown_seed_ids_fail_listing_them_and_write_nothing(stocked, tmp_path):
    path = tmp_path / "liked.jsonl"
    path.write_text(json.dumps({"id": "2409.00001", "title": "T", "abstract": ABSTRACT}) + "\n")
    before = stocked.papers.count()
    with pytest.raises(NotFoundError) as info:
        ids = "2401.00001,2499.99999,2499.88888v2"
        add_user(stocked, "ed", "ed@example.org", seeds=[path, ids])
    message = str(info.value)
    assert "2499.99999" in message and "2499.88888v2" in message
    assert "2401.00001" not in message
    assert "ingest" in message
    assert stocked.users.names() == []
    assert stocked.papers.count() == before


@pytest.mark.timeout(60)
def test_unknown_seed_ids_are_fetched_from_arxiv_when_a_fetch_is_given(stocked, api):  # noqa: F811
    def fetch(ids):
        return fetch_ids(ids, retries=0, api_url=api.url)

    added = add_user(stocked, "gu", "gu@example.org", seeds=["2401.00001,2401.01234"], fetch=fetch)
    assert added.seeds == ("2401.01234", "2401.00001")
    assert [p.title for p in stocked.papers.get_many(["2401.01234"])] != []
    before = stocked.papers.count()
    with pytest.raises(NotFoundError) as info:
        add_user(stocked, "hu", "hu@example.org", seeds=["2499.99999"], fetch=fetch)
    assert "2499.99999: no such paper" in str(info.value) and "not fetched" in str(info.value)
    assert stocked.users.names() == ["gu"] and stocked.papers.count() == before


def test_seed_id_may_name_a_paper_in_a_seed_file(store, tmp_path):
    path = tmp_path / "liked.jsonl"
    path.write_text(json.dumps({"id": "2409.00001", "title": "T", "abstract": ABSTRACT}) + "\n")
    added = add_user(store, "fa", "fa@example.org", seeds=[path, "2409.00001v1"])
    assert added.seeds == ("2409.00001",)


def test_missing_seed_file_and_unreadable_seed_file(store, tmp_path):
    with pytest.raises(InputError, match="no such seed file: missing.bib"):
        read_seeds(["missing.bib"])
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"title": "no abstract"}\n')
    with pytest.raises(InputError, match="no seed papers could be read.*missing field"):
        add_user(store, "gu", "gu@example.org", seeds=[empty])
    assert store.users.names() == []


def test_topics_checked_against_known_ids(store):
    with pytest.raises(InputError) as info:
        known = {"nlp", "vision", "rl"}
        add_user(store, "ha", "ha@example.org", "nlp,vision,bogus", known_topics=known)
    assert "unknown topic 'bogus'; available: nlp, rl, vision" == str(info.value)
    added = add_user(store, "ha", "ha@example.org", "anything", known_topics=None)
    assert added.user.topics == ("anything",)


def test_duplicate_name_and_bad_email_are_refused(stocked):
    add_user(stocked, "ivy", "ivy@example.org", seeds=["2401.00001"])
    with pytest.raises(InputError, match="already exists"):
        add_user(stocked, "ivy", "other@example.org", seeds=["2401.00002"])
    with pytest.raises(InputError, match="not an address"):
        add_user(stocked, "jo", "jo.example.org")
    assert user_profile(stocked, "ivy").liked_ids == ("2401.00001",)


def test_failure_while_writing_the_user_leaves_no_user(stocked):
    def fail_on_feedback(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO FEEDBACK"):
            raise RuntimeError("disk full")

    event.listen(stocked.engine, "before_cursor_execute", fail_on_feedback)
    try:
        with pytest.raises(RuntimeError):
            add_user(stocked, "kim", "kim@example.org", seeds=["2401.00001"])
    finally:
        event.remove(stocked.engine, "before_cursor_execute", fail_on_feedback)
    assert stocked.users.names() == []
    with stocked.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback)).scalar_one() == 0


# -- feedback -----------------------------------------------------------------------------
def test_feedback_is_stored_with_time_and_source(stocked):
    add_user(stocked, "lu", "lu@example.org")
    up = record_feedback(stocked, "lu", "2401.00002v1", "up")
    down = record_feedback(stocked, "lu", "https://arxiv.org/abs/2401.00003", Signal.DOWN, "http")
    assert (up.paper_id, up.signal, up.source) == ("2401.00002", Signal.UP, FeedbackSource.CLI)
    assert (down.paper_id, down.source) == ("2401.00003", FeedbackSource.HTTP)
    stored = stocked.users.feedback("lu")
    assert [(e.paper_id, e.signal, e.source) for e in stored] == [
        ("2401.00002", Signal.UP, FeedbackSource.CLI),
        ("2401.00003", Signal.DOWN, FeedbackSource.HTTP),
    ]
    assert stored[0].created_at <= stored[1].created_at


def test_feedback_errors_list_the_options(stocked):
    add_user(stocked, "mo", "mo@example.org")
    add_user(stocked, "nia", "nia@example.org")
    listed = r"unknown signal 'meh'; available: up, down, saved, dismissed$"
    with pytest.raises(InputError, match=listed):
        record_feedback(stocked, "mo", "2401.00001", "meh")
    with pytest.raises(InputError, match="available: up, down, saved, dismissed"):
        record_feedback(stocked, "mo", "2401.00001", "seed")
    with pytest.raises(NotFoundError, match="unknown user 'zed'; available: mo, nia"):
        record_feedback(stocked, "zed", "2401.00001", "up")
    with pytest.raises(NotFoundError, match="unknown paper '2499.00001'"):
        record_feedback(stocked, "mo", "2499.00001", "up")
    with pytest.raises(InputError, match="unknown feedback source 'fax'"):
        record_feedback(stocked, "mo", "2401.00001", "up", "fax")
    assert stocked.users.feedback("mo") == []


def test_latest_signal_wins(stocked):
    add_user(stocked, "ola", "ola@example.org", seeds=["2401.00001"])
    record_feedback(stocked, "ola", "2401.00001", "down")  # changed their mind on a seed
    record_feedback(stocked, "ola", "2401.00002", "down")
    record_feedback(stocked, "ola", "2401.00002", "saved")
    record_feedback(stocked, "ola", "2401.00003", "up")
    record_feedback(stocked, "ola", "2401.00003", "dismissed")
    profile = user_profile(stocked, "ola")
    assert profile.liked_ids == ("2401.00002",)
    assert profile.disliked == ("2401.00001",)
    assert profile.dismissed == ("2401.00003",)
    assert profile.seen_ids == {"2401.00001", "2401.00002", "2401.00003"}


def test_profile_follows_papers_rekeyed_to_their_arxiv_id(store):
    untitled = Paper.create("Graph Networks for Molecules", ABSTRACT.format(topic="graphs"))
    store.papers.upsert([untitled], "hf-page")
    add_user(store, "pia", "pia@example.org", "chem")
    record_feedback(store, "pia", untitled.id, "up")
    store.users.mark_shown("pia", [untitled.id])
    store.papers.upsert([paper("2401.00002", "Graph Networks for Molecules")], "jsonl")
    profile = user_profile(store, "pia")
    assert profile.liked_ids == ("2401.00002",)
    assert profile.shown == {"2401.00002"}
    assert profile.topics == ("chem",)


# -- export and delete --------------------------------------------------------------------
def test_export_contains_everything(stocked):
    add_user(stocked, "quinn", "quinn@example.org", "nlp", seeds=["2401.00001"])
    record_feedback(stocked, "quinn", "2401.00002", "down", "digest")
    stocked.users.mark_shown("quinn", ["2401.00003", "2401.00002"])
    key = stocked.keys.create("quinn")
    data = export_user(stocked, "quinn")
    json.dumps(data)  # JSON-ready
    assert (data["name"], data["email"], data["topics"]) == ("quinn", "quinn@example.org", ["nlp"])
    assert [(f["paper_id"], f["signal"], f["source"]) for f in data["feedback"]] == [
        ("2401.00001", "seed", "seed"),
        ("2401.00002", "down", "digest"),
    ]
    assert all(f["created_at"] for f in data["feedback"])
    assert sorted(s["paper_id"] for s in data["shown"]) == ["2401.00002", "2401.00003"]
    assert len(data["api_keys"]) == 1 and key not in json.dumps(data)
    assert data["profile"]["liked"][0]["paper_id"] == "2401.00001"
    assert data["profile"]["disliked"] == ["2401.00002"]


def test_delete_removes_everything_about_the_user(stocked):
    add_user(stocked, "rae", "rae@example.org", seeds=["2401.00001"])
    add_user(stocked, "sol", "sol@example.org", seeds=["2401.00001"])
    record_feedback(stocked, "rae", "2401.00002", "up")
    stocked.users.mark_shown("rae", ["2401.00003"])
    stocked.keys.create("rae")
    rae_id = stocked.users.get("rae").id
    removed = delete_user(stocked, "rae")
    assert removed == {"feedback": 2, "shown": 1, "api_keys": 1}
    for table in (feedback, shown, api_keys):
        assert count_rows(stocked, table, rae_id) == 0
    with stocked.engine.connect() as conn:
        assert conn.execute(select(users.c.name)).scalars().all() == ["sol"]
        # papers are shared corpus data and stay
        assert conn.execute(select(func.count()).select_from(paper_sources)).scalar_one() == 3
    assert user_profile(stocked, "sol").liked_ids == ("2401.00001",)
    with pytest.raises(NotFoundError, match="unknown user 'rae'; available: sol"):
        export_user(stocked, "rae")


def test_list_users_counts_rows(stocked):
    add_user(stocked, "tia", "tia@example.org", "nlp", seeds=["2401.00001,2401.00002"])
    stocked.keys.create("tia")
    add_user(stocked, "ann", "ann@example.org")
    rows = list_users(stocked)
    assert [r["name"] for r in rows] == ["ann", "tia"]
    assert rows[1] | {"created_at": None} == {
        "name": "tia",
        "email": "tia@example.org",
        "topics": ["nlp"],
        "created_at": None,
        "feedback": 2,
        "shown": 0,
        "api_keys": 1,
    }
