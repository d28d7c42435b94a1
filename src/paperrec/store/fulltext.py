"""Full-text search over titles and abstracts, one function per engine, chosen by dialect.

SQLite keeps an FTS5 index (external content: the ``papers`` table itself, kept in step by
triggers, so every write path is covered); Postgres keeps a GIN index on the English
``tsvector`` of title and abstract and matches it with ``plainto_tsquery`` (every word
required, English stemming and stop words). `search_ids` is the only entry point; the query
text is turned into plain terms here, never passed through as query syntax.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

_TERM = re.compile(r"\w[\w\-]*", re.UNICODE)
MAX_TERMS = 12

_SQLITE_SETUP = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5("
    "title, abstract, content='papers', content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS papers_fts_insert AFTER INSERT ON papers BEGIN "
    "INSERT INTO papers_fts(rowid, title, abstract) VALUES (new.rowid, new.title, new.abstract); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS papers_fts_delete AFTER DELETE ON papers BEGIN "
    "INSERT INTO papers_fts(papers_fts, rowid, title, abstract) "
    "VALUES ('delete', old.rowid, old.title, old.abstract); END",
    "CREATE TRIGGER IF NOT EXISTS papers_fts_update AFTER UPDATE ON papers BEGIN "
    "INSERT INTO papers_fts(papers_fts, rowid, title, abstract) "
    "VALUES ('delete', old.rowid, old.title, old.abstract); "
    "INSERT INTO papers_fts(rowid, title, abstract) VALUES (new.rowid, new.title, new.abstract); "
    "END",
    "INSERT INTO papers_fts(papers_fts) VALUES ('rebuild')",
)


def terms(query: str) -> list[str]:
    """The words of a free-text query, lowercased, at most `MAX_TERMS`."""
    return [t.lower() for t in _TERM.findall(query)][:MAX_TERMS]


# The index expression and the query's must be the same text for Postgres to use the index.
_PG_DOCUMENT = "to_tsvector('english', title || ' ' || abstract)"
_PG_SETUP = (f"CREATE INDEX IF NOT EXISTS ix_papers_fulltext ON papers USING GIN ({_PG_DOCUMENT})",)


def create_index(conn: Connection) -> None:
    """Build the engine's full-text index over the stored papers (a migration step)."""
    setup = {"sqlite": _SQLITE_SETUP, "postgresql": _PG_SETUP}.get(conn.dialect.name, ())
    for statement in setup:
        conn.exec_driver_sql(statement)


def search_ids(conn: Connection, query: str, limit: int) -> list[str]:
    """Paper ids matching every word of ``query``, best match first (at most ``limit``)."""
    words = terms(query)
    if not words:
        return []
    if conn.dialect.name == "sqlite":
        match = " ".join('"' + w.replace('"', "") + '"' for w in words)
        rows = conn.execute(
            text(
                "SELECT p.id FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid "
                "WHERE papers_fts MATCH :match ORDER BY bm25(papers_fts, 2.0, 1.0) LIMIT :limit"
            ),
            {"match": match, "limit": limit},
        )
        return [row[0] for row in rows]
    if conn.dialect.name == "postgresql":
        # Hyphens split words as FTS5 does ("bird's-eye" matches "Bird's-eye-view"); plain
        # terms, so words like "or" are words, not operators.
        rows = conn.execute(
            text(
                f"SELECT id FROM papers, plainto_tsquery('english', :q) query "
                f"WHERE {_PG_DOCUMENT} @@ query "
                f"ORDER BY ts_rank({_PG_DOCUMENT}, query) DESC, id LIMIT :limit"
            ),
            {"q": " ".join(w.replace("-", " ") for w in words), "limit": limit},
        )
        return [row[0] for row in rows]
    raise NotImplementedError(f"no full-text search for the {conn.dialect.name} engine")
