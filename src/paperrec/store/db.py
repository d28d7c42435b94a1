"""Database schema, engine and migrations for the paper store.

The schema carries an explicit version in the ``meta`` table. ``open_engine`` creates a
fresh database at the current version or applies the migrations a stored one is missing,
so an old PAPERREC_HOME keeps working after an upgrade. Works with any SQLAlchemy URL:
SQLite by default, Postgres when ``PAPERREC_DATABASE_URL`` says so.
"""

from __future__ import annotations

import os
import secrets
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
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from paperrec.errors import PaperrecError, StoreError
from paperrec.store.engines import lock_migrations
from paperrec.store.turns import TakingTurns

SCHEMA_VERSION = 4

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
    # version 3: an id that is never reused (row ids can be, after a delete) and the
    # generation of the user's feedback links; both are signed into every link.
    Column("uid", String(32)),
    Column("token_generation", Integer, nullable=False, server_default="0"),
    Index("ix_users_uid", "uid", unique=True),
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
    Column("expires_at", String(32)),  # version 3; NULL: never
    Column("last_used_at", String(32)),  # version 3; NULL: never used
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

# -- version 4: the web app's one-time sign-in links and the full-text index ---------------
signin_links = Table(
    "signin_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the link's nonce
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("used_at", String(32)),  # NULL until the link signs someone in
)
V4_TABLES = (signin_links,)


def _migrate_v4(conn: Connection) -> None:
    from paperrec.store.fulltext import create_index  # the engine-specific part

    metadata.create_all(conn, tables=V4_TABLES)
    create_index(conn)


# Migration n takes a database at version n-1 to version n. Each creates only its own
# tables, so a database made at version 1 and migrated equals one created fresh.
# Version 3 adds columns to version-1 tables: a database created fresh already has them.
V3_COLUMNS = {
    "users": ("uid VARCHAR(32)", "token_generation INTEGER NOT NULL DEFAULT 0"),
    "api_keys": ("expires_at VARCHAR(32)", "last_used_at VARCHAR(32)"),
}


def _migrate_v3(conn: Connection) -> None:
    """Add the version-3 columns that are missing, give every user a uid, index it."""
    inspector = inspect(conn)
    for table, columns in V3_COLUMNS.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for column in columns:
            if column.split()[0] not in present:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))
    for (user_id,) in conn.execute(select(users.c.id).where(users.c.uid.is_(None))).all():
        conn.execute(users.update().where(users.c.id == user_id).values(uid=new_uid()))
    next(i for i in users.indexes if i.name == "ix_users_uid").create(conn, checkfirst=True)


def new_uid() -> str:
    """A user id that is never reused: 16 random hex digits."""
    return secrets.token_hex(8)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: metadata.create_all(conn, tables=V1_TABLES),
    2: lambda conn: metadata.create_all(conn, tables=V2_TABLES),
    3: _migrate_v3,
    4: _migrate_v4,
}


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# What SQLite's own messages mean for the person running paperrec.
_PLAIN = (
    ("disk is full", "the disk is full"),
    ("readonly database", "the database is read-only (a read-only disk or file)"),
    ("read-only file system", "the database is on a read-only file system"),
    ("not a database", "the file is not an SQLite database, or its header is corrupted"),
    ("malformed", "the database file is corrupted (restore it from a backup)"),
    ("unable to open database file", "the database file cannot be opened"),
    ("disk i/o error", "the disk failed to read or write the database"),
    ("database is locked", "another process held the database locked for too long"),
)


def describe_database_error(exc: BaseException, url: str = "") -> str:
    """One line for a database failure: what it means, where, and SQLite's own words."""
    original = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    meaning = next((text for key, text in _PLAIN if key in original.lower()), None)
    if "unable to open" in original.lower() and _on_read_only_disk(url):
        meaning = (
            "the database is on a read-only file system (SQLite needs to write beside it "
            "even to read)"
        )
    where = f" ({_safe(url)})" if url else ""
    return f"database error{where}: {meaning or original}" + (f" [{original}]" if meaning else "")


def _on_read_only_disk(url: str) -> bool:
    """Whether the SQLite file of ``url`` lies on a file system mounted read-only."""
    try:
        database = make_url(url).database
        folder = Path(database).parent if database else None
        return bool(folder and os.statvfs(folder).f_flag & os.ST_RDONLY)
    except Exception:  # not SQLite, or not a path: nothing to tell
        return False


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as the scheme only
        return url.split(":", 1)[0] + ":..."


def _as_store_error(url: str):
    def handle(context) -> None:
        wrapped = context.sqlalchemy_exception
        if isinstance(wrapped, IntegrityError):
            return  # a constraint: the caller catches it and says which
        if isinstance(wrapped, DBAPIError):
            error = context.original_exception
            raise StoreError(describe_database_error(error, url)) from error

    return handle


def open_engine(url: str) -> Engine:
    """Engine for ``url`` with the schema brought to ``SCHEMA_VERSION``.

    Raises StoreError (one line) for an unknown URL scheme, a database that cannot be
    created or opened, a corrupted file; later failures of any query (disk full,
    read-only, corruption found on the way) are StoreErrors too.
    """
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        on_file = backend == "sqlite" and parsed.database not in (None, "", ":memory:")
        # A file's writers in this process take turns at a lock (paperrec.store.turns).
        extra = {"connect_args": {"factory": TakingTurns}} if on_file else {}
        # pre_ping: a long-running service outlives server restarts and idle disconnects
        # (PostgreSQL); SQLite files never drop a connection.
        engine = create_engine(url, future=True, pool_pre_ping=backend != "sqlite", **extra)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(
            f"PAPERREC_DATABASE_URL {_safe(url)!r} cannot be used ({exc}); use "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from None
    except ImportError as exc:
        raise StoreError(f"the driver for {backend} is not installed: {exc}") from None
    if on_file:
        path = Path(parsed.database)
        if path.is_dir():
            raise StoreError(f"the database path {path} is a directory, not a file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of the database {path}: {exc.strerror}"
            ) from None
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    event.listen(engine, "handle_error", _as_store_error(url))
    migrate(engine)
    return engine


def stored_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def migrate(engine: Engine) -> int:
    """Apply missing migrations in one transaction each (the same steps on every engine);
    returns the resulting version."""
    with engine.begin() as conn:
        version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise PaperrecError(
            f"database schema version {version} is newer than this paperrec "
            f"({SCHEMA_VERSION}); upgrade paperrec"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with engine.begin() as conn:
            # Several processes may open a new database at once (service workers): on
            # PostgreSQL the first applies the step, the others wait and then skip it.
            lock_migrations(conn)
            if stored_version(conn) >= target:
                continue
            MIGRATIONS[target](conn)
            conn.execute(meta.delete().where(meta.c.key == "schema_version"))
            conn.execute(meta.insert().values(key="schema_version", value=str(target)))
    return SCHEMA_VERSION
