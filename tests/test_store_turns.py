"""SQLite writers of one process take turns at a lock (paperrec.store.turns): a write
transaction holds its database's lock from its first write to its end, reads never take
it, and the store's engine connects with it."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text

from paperrec.store.db import open_engine
from paperrec.store.turns import TakingTurns, lock_of, opens_write


@pytest.fixture()
def database(tmp_path):
    path = tmp_path / "turns.sqlite"
    conn = sqlite3.connect(path, factory=TakingTurns)
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.commit()
    yield path, conn
    conn.close()


def test_a_write_holds_the_turn_until_commit_or_rollback(database):
    path, conn = database
    turn = lock_of(str(path))
    conn.execute("SELECT count(*) FROM t").fetchone()
    assert not turn.locked()  # reads never take it
    conn.execute("INSERT INTO t VALUES (1)")
    assert turn.locked() and conn.in_transaction
    conn.execute("INSERT INTO t VALUES (2)")  # the same transaction: no second wait
    conn.commit()
    assert not turn.locked()
    conn.executemany("UPDATE t SET a = ? WHERE a = ?", [(3, 1)])
    assert turn.locked()
    conn.rollback()
    assert not turn.locked()
    assert conn.execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (2,)]


def test_a_with_block_gives_the_turn_back_whether_it_commits_or_not(database):
    path, conn = database
    turn = lock_of(str(path))
    with conn:
        conn.executemany("INSERT OR REPLACE INTO t VALUES (?)", [(1,), (2,)])
        assert turn.locked()
    assert not turn.locked()
    with pytest.raises(ValueError), conn:
        conn.execute("INSERT INTO t VALUES (3)")
        raise ValueError("rolled back")
    assert not turn.locked()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_failed_write_and_autocommit_give_the_turn_back(database):
    path, conn = database
    turn = lock_of(str(path))
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO missing VALUES (1)")  # fails before a transaction begins
    assert not turn.locked()
    conn.isolation_level = None  # autocommit: every statement is its own transaction
    conn.execute("INSERT INTO t VALUES (4)")
    assert not turn.locked() and not conn.in_transaction
    conn.isolation_level = ""
    conn.execute("DELETE FROM t")
    conn.close()  # closing with a transaction open gives the turn back too
    assert not turn.locked()


def test_another_connection_waits_for_the_turn_and_then_writes(database):
    path, conn = database
    conn.execute("INSERT INTO t VALUES (1)")  # holds the turn
    done = threading.Event()

    def other() -> None:
        second = sqlite3.connect(path, factory=TakingTurns, check_same_thread=False)
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        second.close()
        done.set()

    worker = threading.Thread(target=other)
    worker.start()
    assert not done.wait(0.3)  # waiting for its turn, not failing with "database is locked"
    conn.commit()
    worker.join(10)
    assert done.is_set()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_statements_that_open_a_write_transaction():
    assert opens_write("  insert into t values (1)") and opens_write("UPDATE t SET a = 1")
    assert opens_write("DELETE FROM t") and opens_write("REPLACE INTO t VALUES (1)")
    assert not opens_write("SELECT 1") and not opens_write("PRAGMA journal_mode=WAL")


def test_the_store_engine_takes_turns_and_every_concurrent_write_lands(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, TakingTurns)
        conn.execute(text("CREATE TABLE votes (a INTEGER)"))
        conn.commit()

    def writer(offset: int) -> None:
        for i in range(50):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO votes VALUES (:a)"), {"a": offset + i})

    threads = [threading.Thread(target=writer, args=(n * 100,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT a) FROM votes")).scalar() == 150
    assert not lock_of(str(tmp_path / "store.sqlite")).locked()
    engine.dispose()
