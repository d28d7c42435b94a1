"""SQLite writers in one process take turns at a lock, not in SQLite's busy handler.

SQLite lets one writer in at a time. A connection that finds the database locked sleeps in
SQLite's busy handler, in steps that grow to 25, 50 and 100 ms, and wakes late even when the
other writer finished long before. Three threads committing at once on this machine waited
up to 430-540 ms that way; taking turns at a lock of the process instead, the longest wait
was 18-27 ms (the same inserts, synchronous=FULL). The service's votes are such writers.

`TakingTurns` is the sqlite3 connection class of the store's engine: before a statement that
opens a write transaction (the ones sqlite3 itself issues ``BEGIN`` for) it takes the lock of
its database file, and it gives the lock back when that transaction ends (commit, rollback,
close). Reads never take it. Writers in other processes still meet in SQLite's busy handler.
"""

from __future__ import annotations

import os
import sqlite3
import threading

# How long a writer waits for its turn, as the store's PRAGMA busy_timeout (30 s).
WAIT_SECONDS = 30.0
# Statements before which sqlite3 opens a transaction (its "legacy" transaction control).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def lock_of(database: str) -> threading.Lock:
    """The lock the writers of ``database`` (a path) take turns at in this process."""
    key = os.path.realpath(database)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def opens_write(statement: str) -> bool:
    """Whether sqlite3 begins a transaction before ``statement`` (a write)."""
    return statement.lstrip().upper().startswith(_WRITES)


class TakingTurns(sqlite3.Connection):
    """A sqlite3 connection whose write transactions take turns (pass it as ``factory``)."""

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        self._turn = lock_of(os.fsdecode(database))
        self._holding = False

    def cursor(self, factory=None):
        return super().cursor(factory or _TurnCursor)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        return self.cursor().executemany(sql, parameters)

    def take_turn(self) -> None:
        """Wait for this database's lock unless this connection holds it already."""
        if self._holding:
            return
        if not self._turn.acquire(timeout=WAIT_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        self._holding = True

    def end_turn(self) -> None:
        if self._holding:
            self._holding = False
            self._turn.release()

    def after_statement(self) -> None:
        """Give the turn back if the statement left no transaction open (autocommit mode,
        or a statement that failed before one began)."""
        if not self.in_transaction:
            self.end_turn()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def __exit__(self, *exc):
        # ``with conn:`` commits or rolls back in C, past the methods above.
        try:
            return super().__exit__(*exc)
        finally:
            self.after_statement()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()


class _TurnCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        return self._in_turn(super().execute, sql, parameters)

    def executemany(self, sql, parameters, /):
        return self._in_turn(super().executemany, sql, parameters)

    def _in_turn(self, run, sql, parameters):
        """``run(sql, parameters)``, holding the turn if ``sql`` is a write."""
        if not opens_write(sql):
            return run(sql, parameters)
        self.connection.take_turn()
        try:
            return run(sql, parameters)
        finally:
            self.connection.after_statement()
