"""Who is due a digest on a date, before anything is composed: `settle` splits users into
those with nothing to compose (recorded already, or not due by their cadence,
`paperrec.digest.budget.is_due`) and those due one, each with what the store says about
them (`Due`). A user's outcome for the date is a `Planned`. Needs no model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from paperrec.digest.budget import DigestSettings, is_due
from paperrec.digest.content import DigestContent
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS, window
from paperrec.store import Store

Status = Literal["ready", "empty", "recorded", "not_due", "skipped"]


@dataclass(frozen=True)
class Planned:
    """One user's digest for a date, or why there is none.

    ``ready``: ``content`` is composed (papers, or a "nothing new" notice); ``empty``:
    nothing new and the user wants no notice; ``recorded``: the outbox already holds this
    user's digest for the date; ``not_due``: a weekly user's week is not over; ``skipped``:
    a problem with this user (``detail`` says which), nothing recorded, the next run tries
    again.
    """

    user: str
    email: str
    date: dt.date
    status: Status
    content: DigestContent | None = None
    since: dt.date | None = None
    detail: str = ""


@dataclass(frozen=True)
class Due:
    """A user due a digest: everything about them that the main process looks up."""

    name: str
    email: str
    budget: DigestSettings
    since: dt.date
    held: frozenset[str]
    uid: str = ""  # signed into the feedback links, with the token generation
    token_generation: int = 0


def settle(
    store: Store, names: Sequence[str], date: dt.date, *, max_days: int = DEFAULT_WINDOW_DAYS
) -> tuple[list[Planned], list[Due]]:
    """Split ``names`` into users with nothing to compose for ``date`` (``recorded`` already,
    or ``not_due``), in the order of ``names``, and the users due a digest, each with what
    the store says about them, in the order their windows start. Needs no model."""
    accounts = {u.name: u for u in store.users.all()}
    recorded = {e.user for e in store.outbox.entries(names=names, date=date)}
    last = store.outbox.last_dates(names, before=date)
    budgets = store.users.digest_settings_many(names)
    settled: list[Planned] = []
    due: list[tuple[str, dt.date]] = []
    for name in names:
        email = accounts[name].email
        if name in recorded:
            settled.append(
                Planned(name, email, date, "recorded", detail=f"already recorded for {date}")
            )
        elif not is_due(budgets[name].cadence, date, last.get(name)):
            detail = f"{budgets[name].cadence} digest, last one on {last[name]}"
            settled.append(Planned(name, email, date, "not_due", detail=detail))
        else:
            due.append((name, window(date, last.get(name), max_days)[0]))
    if not due:
        return settled, []
    held = store.outbox.held_ids([n for n, _ in due], since=min(s for _, s in due))
    jobs = sorted(
        (
            Due(
                n,
                accounts[n].email,
                budgets[n],
                since,
                frozenset(held.get(n, ())),
                accounts[n].uid,
                accounts[n].token_generation,
            )  # fmt: skip
            for n, since in due
        ),
        key=lambda job: job.since,  # stable: users sharing a window stay in order
    )
    return settled, jobs
