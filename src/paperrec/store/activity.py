"""Readers' activity as the web app reads it: has a reader's feedback changed, their vote
on a paper, how many readers liked each paper, and taking a vote back.

Reads the same ``feedback`` table as `paperrec.store.users.UserStore`; kept apart so the
users module stays about accounts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, delete, func, select

from paperrec.schema import Signal
from paperrec.store.db import feedback, users

_IN_CHUNK = 500
_POSITIVE = (Signal.UP.value, Signal.SAVED.value)


class Activity:
    def __init__(self, engine: Engine):
        self.engine = engine

    def _user_id(self, conn, name: str) -> int | None:
        return conn.execute(select(users.c.id).where(users.c.name == name)).scalar()

    def feedback_stamp(self, name: str) -> tuple[int, int]:
        """(events, newest event id) of a reader: changes with every vote they give or
        take back, wherever it comes from."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.max(feedback.c.id))
                .select_from(feedback.join(users, users.c.id == feedback.c.user_id))
                .where(users.c.name == name)
            ).one()
        return int(row[0]), int(row[1] or 0)

    def latest_signal(self, name: str, paper_id: str) -> str | None:
        """The reader's latest signal on a paper (``up``, ``saved``, ``seed``, ...), or None."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(feedback.c.signal)
                .select_from(feedback.join(users, users.c.id == feedback.c.user_id))
                .where(users.c.name == name, feedback.c.paper_id == paper_id)
                .order_by(feedback.c.id.desc())
                .limit(1)
            ).scalar()

    def like_counts(self, paper_ids: Sequence[str]) -> dict[str, int]:
        """Distinct readers who voted each paper up or saved it (papers without any are
        left out); seeds do not count."""
        ids = list(dict.fromkeys(paper_ids))
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                rows = conn.execute(
                    select(feedback.c.paper_id, func.count(feedback.c.user_id.distinct()))
                    .where(
                        feedback.c.paper_id.in_(ids[start : start + _IN_CHUNK]),
                        feedback.c.signal.in_(_POSITIVE),
                    )
                    .group_by(feedback.c.paper_id)
                )
                counts.update((pid, int(n)) for pid, n in rows)
        return counts

    def take_back(self, name: str, paper_id: str) -> int:
        """Remove every vote of the reader on a paper (undo); returns events removed."""
        with self.engine.begin() as conn:
            user_id = self._user_id(conn, name)
            if user_id is None:
                return 0
            return conn.execute(
                delete(feedback).where(
                    feedback.c.user_id == user_id, feedback.c.paper_id == paper_id
                )
            ).rowcount
