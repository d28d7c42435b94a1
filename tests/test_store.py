"""The paper store: idempotent ingest, dedupe across sources, stats, schema version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from paperrec.errors import PaperrecError
from paperrec.papers.ingest import ingest_paths
from paperrec.schema import Paper
from paperrec.store.db import SCHEMA_VERSION, meta, open_engine, paper_sources, papers

pytestmark = pytest.mark.both_engines  # the store on SQLite and on PostgreSQL

ATOM = Path(__file__).parent / "fixtures" / "arxiv"
SPARSE_TITLE = "Sparse Mixture-of-Experts Routing for Streaming Speech Recognition"
SPARSE_ABSTRACT = (
    "We study sparse mixture-of-experts routing for streaming automatic speech recognition. A "
    "router chooses two of sixteen experts per frame, so the compute per frame stays constant."
)


def _hf_page(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = ["new", "Get trending papers in your email inbox!", "Subscribe"]
    for title, abstract in pairs:
        lines += ["", title, "", abstract]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _abstract(n: int) -> str:
    return f"Abstract number {n}: we study problem {n} and report results on benchmark {n}."


def _sources(store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        for pid, source in conn.execute(select(paper_sources)):
            found.setdefault(pid, set()).add(source)
    return found


def _rows(store) -> list[tuple]:
    with store.engine.connect() as conn:
        query = select(papers.c.id, papers.c.content_hash, papers.c.version).order_by(papers.c.id)
        return [tuple(row) for row in conn.execute(query)]


@pytest.fixture()
def files(tmp_path) -> list[Path]:
    rows = [
        {"id": f"2402.{n:05d}", "title": f"Paper {n}", "abstract": _abstract(n),
         "categories": ["cs.LG", "stat.ML"] if n % 2 else ["cs.CL"], "date": f"2024-02-{n:02d}"}
        for n in range(1, 11)
    ]  # fmt: skip
    page = [("A Paper Only Seen On Hugging Face", SPARSE_ABSTRACT.replace("sparse", "dense"))]
    return [
        _jsonl(tmp_path / "pool.jsonl", rows),
        _hf_page(tmp_path / "page.txt", page),
        ATOM / "atom_v1.xml",
        ATOM / "atom_v2.xml",
    ]


def test_ingesting_the_same_files_twice_changes_nothing(store, files):
    first = ingest_paths(store.papers, files, batch_size=4)
    assert (first.counts.added, first.counts.updated) == (14, 2)
    before = _rows(store)
    second = ingest_paths(store.papers, files, batch_size=4)
    assert (second.counts.added, second.counts.updated) == (0, 0)
    # v1 then v2 of two papers within one run: the re-read v1 is an older version.
    assert (second.counts.unchanged, second.counts.older_skipped) == (14, 2)
    assert _rows(store) == before
    assert store.papers.count() == 14


def test_seed_pages_twice_add_nothing(store, seed_pages):
    first = ingest_paths(store.papers, seed_pages)
    assert first.counts.added == 335 and first.problems == []
    second = ingest_paths(store.papers, seed_pages)
    assert (second.counts.added, second.counts.updated) == (0, 0)
    assert store.papers.count() == 335


def test_hf_paper_later_seen_with_arxiv_id_keeps_one_row(store, tmp_path):
    page = _hf_page(tmp_path / "page.txt", [(SPARSE_TITLE, SPARSE_ABSTRACT)])
    ingest_paths(store.papers, [page])
    (title_id,) = [row[0] for row in _rows(store)]
    assert title_id.startswith("title:")

    summary = ingest_paths(store.papers, [ATOM / "atom_v1.xml"])
    assert (summary.counts.added, summary.counts.updated) == (2, 1)  # re-keyed, not added
    assert store.papers.count() == 3
    assert _sources(store)["2401.01234"] == {"hf-page", "arxiv-atom"}
    assert title_id not in _sources(store)

    # The old key is an alias: feedback recorded against it still finds the paper.
    assert store.papers.resolve_ids([title_id, "2401.01234v7", "nope"]) == {
        title_id: "2401.01234",
        "2401.01234v7": "2401.01234",
    }
    (paper,) = store.papers.get_many([title_id])
    assert (paper.id, paper.version, paper.categories[0]) == ("2401.01234", 1, "cs.LG")

    # Reading the page again matches the re-keyed row through the alias.
    again = ingest_paths(store.papers, [page])
    assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, 1)
    assert store.papers.count() == 3


def test_hf_page_after_arxiv_only_fills_gaps(store, tmp_path):
    ingest_paths(store.papers, [ATOM / "atom_v3.xml"])
    stored = store.papers.get_many(["2401.01234"])[0]
    title = stored.title.upper()  # same title key, different spelling
    page = _hf_page(tmp_path / "page.txt", [(title, "An HF abstract that differs. " * 5)])
    summary = ingest_paths(store.papers, [page])
    assert (summary.counts.added, summary.counts.unchanged) == (0, 1)
    assert store.papers.get_many(["2401.01234"])[0] == stored
    assert _sources(store)["2401.01234"] == {"arxiv-atom", "hf-page"}


def test_unversioned_dump_does_not_undo_a_known_version(store, tmp_path):
    # A JSONL dump without versions must not flip the text of a versioned row back and
    # forth on every re-ingest; it only fills gaps.
    dump = _jsonl(tmp_path / "dump.jsonl", [
        {"id": "2401.01234", "title": "Old dump title", "abstract": "Old dump text."},
    ])  # fmt: skip
    files = [dump, ATOM / "atom_v3.xml"]
    ingest_paths(store.papers, files)
    again = ingest_paths(store.papers, files)
    assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, 2)
    paper = store.papers.get_many(["2401.01234"])[0]
    assert (paper.version, paper.title) == (3, SPARSE_TITLE.replace("for", "for Low-Latency"))


def test_two_arxiv_papers_with_one_title_stay_two_rows(store):
    # Namesakes and errata share titles; only a paper without an arXiv id merges by title.
    twins = [
        Paper.create("Attention Is All You Need", "Original abstract.", id="1706.03762v5"),
        Paper.create("Attention is all you need!", "A different paper.", id="2501.00001v1"),
    ]
    counts = store.papers.upsert(twins[:1], "jsonl")
    counts += store.papers.upsert(twins[1:], "jsonl")
    assert counts.added == 2
    assert {p.abstract for p in store.papers.get_many(["1706.03762", "2501.00001"])} == {
        "Original abstract.",
        "A different paper.",
    }


def test_get_many_keeps_the_requested_order(store, files):
    ingest_paths(store.papers, files)
    ids = ["2402.00003", "missing", "2401.01234v1", "2402.00001"]
    assert [p.id for p in store.papers.get_many(ids)] == ["2402.00003", "2401.01234", "2402.00001"]


def test_stats(store, files):
    ingest_paths(store.papers, files)
    stats = store.papers.stats()
    assert stats["papers"] == 14
    assert stats["by_source"] == {"jsonl": 10, "arxiv-atom": 3, "hf-page": 1}
    assert stats["by_primary_category"] == {
        "cs.CL": 5, "cs.LG": 6, "hep-th": 1, "math.OC": 1, "none": 1,
    }  # fmt: skip
    assert stats["by_category"]["cs.LG"] == 5 + 1 + 1  # odd rows, 2401.01234, 2312.09876 cross-list
    assert stats["by_category"]["stat.ML"] == 6
    assert stats["by_month"] == {
        "1999-01": 1, "2023-12": 1, "2024-01": 1, "2024-02": 10, "unknown": 1,
    }  # fmt: skip
    assert stats["by_date"]["2024-02-05"] == 1 and stats["by_date"]["unknown"] == 1
    assert sum(stats["by_date"].values()) == 14
    json.dumps(stats)  # printable as-is by `paperrec stats --json`


def test_schema_version_is_recorded(store):
    store.papers.count()  # opens (and creates) the database
    with store.engine.connect() as conn:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    assert int(value) == SCHEMA_VERSION


def test_database_from_a_newer_paperrec_is_refused(settings):
    url = settings.resolved_database_url
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(meta.update().values(value=str(SCHEMA_VERSION + 1)))
    engine.dispose()
    with pytest.raises(PaperrecError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        open_engine(url)


def test_reopening_an_existing_database_keeps_its_rows(settings, files):
    from paperrec.store import Store

    ingest_paths(Store(settings).papers, files)
    assert Store(settings).papers.count() == 14
    assert Store(settings).papers.latest_date() == dt.date(2024, 2, 10)


def test_a_version_1_database_migrates_to_the_schema_of_a_fresh_one(new_database):
    from sqlalchemy import create_engine, inspect

    from paperrec.store import PaperStore
    from paperrec.store.db import MIGRATIONS, users

    old_url = new_database()
    old = create_engine(old_url)
    with old.begin() as conn:  # what paperrec 0.1 wrote: version-1 tables, a user, a paper
        MIGRATIONS[1](conn)
        conn.execute(meta.insert().values(key="schema_version", value="1"))
        conn.execute(users.insert().values(
            name="ada", email="ada@example.org", topics="[]", created_at="2024-01-01T00:00:00",
        ))  # fmt: skip
        paper = Paper.create("Speculative decoding", "Draft and verify tokens.", id="2401.00001")
        conn.execute(papers.insert().values(
            id=paper.id, title=paper.title, abstract=paper.abstract, categories="[]",
            authors="[]", title_key=paper.title_key, content_hash=paper.content_hash,
            ingested_at="2024-01-01T00:00:00", updated_at="2024-01-01T00:00:00",
        ))  # fmt: skip
    old.dispose()
    migrated, fresh = open_engine(old_url), open_engine(new_database())

    def schema(engine) -> dict:
        found = inspect(engine)
        return {
            table: (
                {c["name"] for c in found.get_columns(table)},
                {i["name"] for i in found.get_indexes(table)},
            )
            for table in found.get_table_names()
        }

    assert schema(migrated) == schema(fresh)
    with migrated.connect() as conn:
        assert conn.execute(select(meta.c.value)).scalar() == str(SCHEMA_VERSION)
        ada = conn.execute(select(users)).one()
    assert (ada.name, len(ada.uid), ada.token_generation) == ("ada", 16, 0)
    # the full-text index covers the rows written before it existed
    assert PaperStore(migrated).search_text("speculative") == ["2401.00001"]
    for engine in (migrated, fresh):
        engine.dispose()


def test_the_config_logged_with_runs_hides_the_database_password(monkeypatch, tmp_path):
    from paperrec.config import Settings

    monkeypatch.setenv("PAPERREC_HOME", str(tmp_path))
    monkeypatch.setenv("PAPERREC_DATABASE_URL", "postgresql+psycopg://ada:s3cret-pw@db/paperrec")
    logged = Settings().public_dict()
    assert "s3cret-pw" not in json.dumps(logged)
    assert logged["database_url"] == logged["resolved_database_url"]
    assert logged["database_url"] == "postgresql+psycopg://ada:***@db/paperrec"
