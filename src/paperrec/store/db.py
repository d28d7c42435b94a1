"""Database schema, engine and migrations for the paper store.

The schema carries an explicit version in the ``meta`` table. ``open_engine`` creates a
fresh database at the current version or applies the migrations a stored one is missing,
so an old PAPERREC_HOME keeps working after an upgrade. Works with any SQLAlchemy URL:
SQLite by default, Postgres when ``PAPERREC_DATABASE_URL`` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import make_url

from paperrec.errors import PaperrecError

SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

papers = Table(
    "papers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("categories", Text, nullable=False, default="[]"),  # JSON list, primary first
    Column("authors", Text, nullable=False, default="[]"),  # JSON list
    Column("date", String(10)),  # ISO date or NULL
    Column("version", Integer),
    Column("title_key", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("ingested_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_date", "date"),
)

paper_sources = Table(
    "paper_sources",
    metadata,
    Column("paper_id", String(128), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(64), primary_key=True),
)

# Old keys of papers whose key changed (a title-keyed paper later seen with its arXiv id).
paper_aliases = Table(
    "paper_aliases",
    metadata,
    Column("alias", String(128), primary_key=True),
    Column("paper_id", String(128), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("topics", Text, nullable=False, default="[]"),
    Column("created_at", String(32), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(128), nullable=False),
    Column("signal", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_feedback_user", "user_id"),
)

shown = Table(
    "shown",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", String(128), primary_key=True),
    Column("shown_at", String(32), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),  # NULL = admin
    Column("key_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("key_hash"),
)

V1_TABLES = (meta, papers, paper_sources, paper_aliases, users, feedback, shown, api_keys)

# -- version 2: digest settings per user and the digest outbox ---------------------------
# One row per user who changed a default (paperrec.digest.budget.DigestSettings holds the defaults).
digest_settings = Table(
    "digest_settings",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("k", Integer, nullable=False),
    Column("min_score", Float),  # NULL: no minimum
    Column("cadence", String(16), nullable=False),
    Column("topic_quota", Text, nullable=False, default="{}"),  # JSON {topic or "*": n}
    Column("empty_notice", Boolean, nullable=False),
    Column("trending", Boolean, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# A digest is recorded here, rendered, before it is sent; at most one per user and date.
# status: pending (to send from next_attempt_at on), sending (claimed by a run at
# claimed_at; handed_over_at is set just before the message itself goes to the server),
# sent, unconfirmed (a run died after handing the message over: not resent on its own),
# skipped (an empty day, recorded so that reruns agree; nothing to send).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("date", String(10), nullable=False),
    Column("kind", String(16), nullable=False),  # digest | notice | empty
    Column("status", String(16), nullable=False),
    Column("email", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("paper_ids", Text, nullable=False, default="[]"),  # JSON list, best first
    Column("message_id", String(255), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32), nullable=False),
    Column("last_error", Text),
    Column("claimed_at", String(32)),
    Column("claimed_by", String(300)),  # host:pid of the run that claimed it
    Column("handed_over_at", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32)),
    UniqueConstraint("user_id", "date", name="uq_outbox_user_date"),
    Index("ix_outbox_status", "status", "next_attempt_at"),
)
V2_TABLES = (digest_settings, outbox)

# Migration n takes a database at version n-1 to version n. Each creates only its own
# tables, so a database made at version 1 and migrated equals one created fresh.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: metadata.create_all(conn, tables=V1_TABLES),
    2: lambda conn: metadata.create_all(conn, tables=V2_TABLES),
}


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def open_engine(url: str) -> Engine:
    """Engine for ``url`` with the schema brought to ``SCHEMA_VERSION``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    migrate(engine)
    return engine


def stored_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def migrate(engine: Engine) -> int:
    """Apply missing migrations in one transaction each; returns the resulting version."""
    with engine.begin() as conn:
        version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise PaperrecError(
            f"database schema version {version} is newer than this paperrec "
            f"({SCHEMA_VERSION}); upgrade paperrec"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with engine.begin() as conn:
            MIGRATIONS[target](conn)
            conn.execute(meta.delete().where(meta.c.key == "schema_version"))
            conn.execute(meta.insert().values(key="schema_version", value=str(target)))
    return SCHEMA_VERSION
