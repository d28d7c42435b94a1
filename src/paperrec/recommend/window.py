"""Which papers are candidates: those announced in a window of days ending on a date.

`paperrec recommend` looks back a fixed number of days; a digest looks back to the day of
the user's last digest, never more than the same number of days.
"""

from __future__ import annotations

import datetime as dt

from paperrec.errors import InputError

DEFAULT_WINDOW_DAYS = 7


def window(date: dt.date, last: dt.date | None, max_days: int) -> tuple[dt.date, dt.date]:
    """First and last announcement date of the candidates on ``date``.

    From the day of the user's last digest ``last`` (papers announced that day but stored
    after it was made are not lost; those it already held are excluded by id) to ``date``,
    and never more than ``max_days`` days: a first digest, or one after a long pause, looks
    back ``max_days`` days. Without ``last``, simply the ``max_days`` days up to ``date``.
    """
    if max_days < 1:
        raise InputError(f"the look-back must be at least 1 day, got {max_days}")
    earliest = date - dt.timedelta(days=max_days - 1)
    return (max(last, earliest) if last is not None else earliest), date
