"""Rows written at the same moment share one commit (group commit).

Each commit waits for the disk (synchronous=FULL: 5-8 ms here), and writers of one database
take turns (`paperrec.store.turns`), so three votes arriving together used to pay three
commits one after another: a py-spy profile of the service under votes alone found the vote
threads a third of their time committing and another third waiting for their turn.

`GroupCommit.insert` queues its row; the first writer to find no commit in progress leads:
it takes every row queued so far, inserts them in one transaction and commits once. Writers
that arrive meanwhile queue behind that commit and the next leader takes them together. No
writer returns before the commit that holds its row, so an acknowledged row is as durable as
before. If the shared transaction fails, each of its rows is retried alone, so a bad row
fails its own writer only.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from sqlalchemy import Engine, Table


class GroupCommit:
    """Inserts into ``table`` of ``engine``; concurrent ones commit together."""

    def __init__(self, engine: Engine, table: Table):
        self.engine = engine
        self.table = table
        self._queue: list[tuple[dict, Future]] = []
        self._queue_guard = threading.Lock()
        self._leading = threading.Lock()

    def insert(self, values: dict) -> None:
        """Insert one row; returns once it is committed, or raises the error of its own row."""
        written: Future = Future()
        with self._queue_guard:
            self._queue.append((values, written))
        with self._leading:
            if not written.done():  # no leader took it: lead, with whatever queued since
                with self._queue_guard:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        written.result()

    def _commit(self, batch: list[tuple[dict, Future]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), [values for values, _ in batch])
        except BaseException as exc:
            if not isinstance(exc, Exception):  # interrupted: no writer may wait for ever
                for _, written in batch:
                    written.set_exception(exc)
                raise
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for one in batch:  # find the row at fault: each alone
                self._commit([one])
            return
        for _, written in batch:
            written.set_result(None)
