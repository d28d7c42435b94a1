"""Chaos: the store under kill -9 of ingest, a full disk, a read-only home, a corrupted file.

Each test runs the real ``paperrec`` command as its own process against a home of its own
and then opens the database again to count what is there.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chaos_common import (
    Tally,
    environment,
    in_process,
    mount_tmpfs,
    one_line_error,
    paperrec,
    remount,
    unmount,
    write_pool,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

BATCH = 100
POOL = 3000


def _count(database: Path, check: bool = True) -> tuple[int, int]:
    """(rows, distinct ids) in the papers table, after SQLite's own integrity check; (0, 0)
    before the database or its tables exist."""
    if not database.exists():
        return 0, 0
    conn = sqlite3.connect(database, timeout=30)
    try:
        if check:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "papers" not in tables:
            return 0, 0
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM papers").fetchone()
    finally:
        conn.close()


def test_kill_9_of_ingest_leaves_whole_batches_and_a_rerun_adds_no_duplicates(tmp_path):
    pool = write_pool(tmp_path / "pool.jsonl", POOL)
    home = tmp_path / "home"
    env = environment(home, PAPERREC_INGEST_BATCH_SIZE=str(BATCH))
    tally = Tally("kill -9 of ingest (batches of 100)")
    rng = random.Random(13)
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "paperrec.cli", "ingest", str(pool)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 240  # a new interpreter starts slowly on a loaded machine
        database = home / "paperrec.sqlite"
        while time.monotonic() < deadline and process.poll() is None:
            if _count(database, check=False)[0] >= BATCH:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        tally.runs += 1
        rows, distinct = _count(database)
        assert rows == distinct
        assert rows % BATCH == 0 or rows == POOL, f"{rows} rows: a partial batch"
    done = paperrec(["ingest", str(pool)], env)  # the rerun
    assert done.returncode == 0, done.stderr
    rows, distinct = _count(home / "paperrec.sqlite")
    tally.acknowledged, tally.lost, tally.duplicated = POOL, POOL - distinct, rows - distinct
    tally.record()
    assert (rows, distinct) == (POOL, POOL)


@pytest.fixture()
def small_disk(tmp_path):
    path = tmp_path / "disk"
    mount_tmpfs(path, "1500k")  # room for 200 papers with their full-text index, not 5,200
    yield path
    unmount(path)


def test_a_full_disk_is_one_line_and_leaves_a_sound_database(small_disk, tmp_path, monkeypatch):
    home = small_disk / "home"
    first = write_pool(tmp_path / "first.jsonl", 200, prefix="2401")
    batch = {"PAPERREC_INGEST_BATCH_SIZE": str(BATCH)}
    done = in_process(["ingest", str(first)], home, monkeypatch, **batch)
    assert done.returncode == 0, done.stderr
    big = write_pool(tmp_path / "big.jsonl", 5000, prefix="2402")
    failed = in_process(["ingest", str(big)], home, monkeypatch, **batch)
    line = one_line_error(failed)
    assert "full" in line or "space" in line, line
    rows, distinct = _count(home / "paperrec.sqlite")
    assert rows == distinct and rows >= 200 and (rows - 200) % BATCH == 0
    stats = in_process(["stats", "--json"], home, monkeypatch)  # the store still answers
    assert stats.returncode == 0, stats.stderr
    Tally("full disk during ingest (1.5 MB tmpfs)", 1, rows, 0, 0).record()


def _stock(home: Path, papers: int) -> None:
    """``papers`` stored papers and a user ada, written and closed before the fault."""
    from paperrec.config import Settings
    from paperrec.papers.ingest import ingest_paths
    from paperrec.store import Store
    from paperrec.users.profiles import add_user

    store = Store(Settings(home=home))
    ingest_paths(store.papers, [write_pool(home.parent / f"pool-{papers}.jsonl", papers)])
    add_user(store, "ada", "ada@example.org")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.engine.dispose()  # no file of the store stays open in this process


def test_a_read_only_home_is_one_line_and_loses_nothing(tmp_path, monkeypatch):
    home = tmp_path / "home"
    mount_tmpfs(home, "8m")
    try:
        _stock(home, 50)
        remount(home, "ro")
        pool = write_pool(tmp_path / "more.jsonl", 20, prefix="2404")
        commands = (
            ["feedback", "ada", "2403.00001", "up"],
            ["ingest", str(pool)],
            ["user", "add", "bob", "--email", "bob@example.org"],
            ["stats"],
        )
        for args in commands:
            done = in_process(args, home, monkeypatch)
            assert done.returncode != 0  # nothing can be written, nor a WAL database read
            line = one_line_error(done)
            assert "read-only" in line, line
        remount(home, "rw")
        users = in_process(["user", "list", "--json"], home, monkeypatch)
        assert users.returncode == 0 and '"ada"' in users.stdout
        assert _count(home / "paperrec.sqlite") == (50, 50)
    finally:
        unmount(home)
    Tally("read-only home (tmpfs remounted ro)", len(commands), 51, 0, 0).record()


@pytest.mark.parametrize("damage", ["header", "pages", "truncated"])
def test_a_corrupted_database_is_one_line(tmp_path, damage, monkeypatch):
    home = tmp_path / "home"
    _stock(home, 400)
    database = home / "paperrec.sqlite"
    data = bytearray(database.read_bytes())
    if damage == "header":
        data[:100] = os.urandom(100)
    elif damage == "pages":
        for start in range(4096, len(data), 8192):
            data[start : start + 512] = os.urandom(512)
    else:
        data = data[: len(data) // 3]
    database.write_bytes(bytes(data))
    commands = (["stats"], ["user", "list"], ["feedback", "ada", "2403.00001", "up"])
    refused = 0
    for args in commands:
        done = in_process(args, home, monkeypatch)
        if done.returncode != 0:  # else SQLite never read a damaged page for this command
            line = one_line_error(done)
            assert "database" in line, line
            refused += 1
    if damage == "header":  # not an SQLite file any more: nothing can read it
        assert refused == len(commands)
    Tally(f"corrupted database ({damage})", len(commands), 0, 0, 0).record()
