"""What differs between the store's two engines, SQLite and PostgreSQL: one function per
capability, chosen by the connection's dialect (full-text search is `paperrec.store.fulltext`).

SQLite lets one writer at a time in, so a compare-and-set ``UPDATE`` or a read followed by
a write inside one transaction is enough there. PostgreSQL lets many writers in at once
(READ COMMITTED): rows are locked explicitly, duplicate keys are skipped by the insert
itself, and schema migrations are serialised with an advisory lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Select, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite

# pg_advisory_xact_lock key of schema migrations: any fixed number (here "paperrec" in ASCII).
MIGRATION_LOCK = 0x7061706572726563


def insert_missing(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Insert ``rows`` into ``table``, skipping each whose key is stored already (also one
    another transaction stores at the same moment): ``INSERT ... ON CONFLICT DO NOTHING``."""
    if not rows:
        return
    dialects = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    make = dialects.get(conn.dialect.name)
    if make is None:
        conn.execute(insert(table), list(rows))  # no such clause: duplicates raise
        return
    conn.execute(make(table).on_conflict_do_nothing(), list(rows))


def upsert(conn: Connection, table: Table, row: dict, key: Sequence[str]) -> None:
    """Insert ``row`` into ``table``, or overwrite the other columns of the row stored under
    the same ``key`` columns (also one another transaction stores at the same moment):
    ``INSERT ... ON CONFLICT (key) DO UPDATE``. A delete followed by an insert is not
    enough on PostgreSQL: two writers both delete nothing, and the second insert fails on
    the key the first one committed."""
    dialects = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    make = dialects.get(conn.dialect.name)
    if make is None:
        raise NotImplementedError(f"no upsert for the {conn.dialect.name} engine")
    statement = make(table).values(**row)
    changed = {name: statement.excluded[name] for name in row if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changed))


def skip_locked(query: Select) -> Select:
    """``query`` taking row locks that other transactions skip (``FOR UPDATE SKIP
    LOCKED``) on PostgreSQL; unchanged on SQLite, whose writers take turns anyway."""
    return query.with_for_update(skip_locked=True)


def lock_migrations(conn: Connection) -> None:
    """Make other processes migrating the same database wait until this transaction ends
    (PostgreSQL: a transaction-level advisory lock; SQLite: nothing to do)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def continue_ids_after_copy(conn: Connection, tables: Sequence[Table]) -> None:
    """After rows were inserted with their ids, make new rows get higher ids (PostgreSQL:
    move each table's id sequence past its largest id; SQLite does so by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT NULL) "
                f"FROM {table.name}"
            )
        )
