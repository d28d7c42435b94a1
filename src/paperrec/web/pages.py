"""The reader's pages: Today, a paper, search, explore, and votes.

Each handler reads the request, asks the feed (`paperrec.web.feed`), the catalog
(`paperrec.web.catalog`) or `paperrec.users.profiles` for what to show or do, and renders a
template. No ranking, no SQL and no scoring here.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse

from paperrec.errors import InputError
from paperrec.schema import FeedbackSource
from paperrec.users.profiles import FEEDBACK_SIGNALS, record_feedback
from paperrec.web.catalog import ORDERS
from paperrec.web.feed import WINDOWS
from paperrec.web.render import (
    Refused,
    handler,
    local_target,
    page,
    read_form,
    redirect,
    threaded,
    wants_json,
)

VOTES = {
    "up": "More like this",
    "down": "Less like this",
    "saved": "Save",
    "dismissed": "Dismiss",
}
DONE = {"up": "Liked", "down": "Less like this", "saved": "Saved", "dismissed": "Dismissed"}


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"date {value!r} is not a date like 2024-05-01") from None


def _days(value: str | None) -> int:
    if value in (None, ""):
        return 1
    if not value.isdigit() or int(value) not in WINDOWS:
        raise InputError(f"window must be one of {', '.join(map(str, WINDOWS))} days")
    return int(value)


@handler
async def today(request: Request, context, session):
    if session.user is None:
        return redirect("/explore" if session.admin else "/signin")
    params = request.query_params
    feed = await threaded(
        context.feed.page, session.user, until=_date(params.get("date")),
        days=_days(params.get("days")), topic=params.get("topic") or None,
    )  # fmt: skip
    return page(request, session, "today.html", feed=feed, windows=WINDOWS, votes=VOTES)


@handler
async def paper(request: Request, context, session):
    view = await threaded(context.catalog.paper, request.path_params["paper_id"], session.user)
    return page(request, session, "paper.html", view=view, votes=VOTES, done=DONE)


@handler
async def search(request: Request, context, session):
    query = request.query_params.get("q", "")
    results = await threaded(context.catalog.search, query) if query.strip() else []
    return page(request, session, "search.html", query=query, results=results)


@handler
async def explore(request: Request, context, session):
    params = request.query_params
    view = await threaded(
        context.catalog.explore, until=_date(params.get("date")), days=_days(params.get("days")),
        order=params.get("order") or "trending", topic=params.get("topic") or None,
    )  # fmt: skip
    return page(request, session, "explore.html", view=view, windows=WINDOWS, orders=ORDERS)


@handler
async def vote(request: Request, context, session):
    """Record a vote of the signed-in reader; their Today ranking is refreshed with it."""
    form = await read_form(request, session)
    name = request.path_params["name"]
    if session.user != name:
        raise Refused(403, "you can only vote as yourself", "Not your account")
    signal = str(form.get("signal", ""))
    if signal not in {s.value for s in FEEDBACK_SIGNALS}:
        raise Refused(400, f"unknown vote {signal!r}; available: {', '.join(VOTES)}")
    event = await threaded(
        record_feedback, context.runtime.store, name, str(form.get("paper", "")), signal,
        FeedbackSource.WEB,
    )  # fmt: skip
    context.feed.refresh_soon(name)
    if wants_json(request):
        return JSONResponse(
            {"paper_id": event.paper_id, "signal": event.signal.value, "label": DONE[signal]}
        )
    return redirect(local_target(str(form.get("next", "")), "/"))
