"""Admin pages (signed in with an admin API key): overview and re-sending a digest."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from paperrec.errors import InputError
from paperrec.serving.admin import overview, resend
from paperrec.web.render import Refused, handler, page, read_form, redirect, threaded


def _admin(session) -> None:
    if not session.admin:
        raise Refused(403, "this page is for administrators (sign in with an admin API key)")


@handler
async def admin(request: Request, context, session):
    _admin(session)
    view = await threaded(overview, context.holder)
    message = request.query_params.get("done", "")
    return page(request, session, "admin.html", view=view, message=message)


@handler
async def admin_resend(request: Request, context, session):
    _admin(session)
    form = await read_form(request, session)
    try:
        date = dt.date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        raise InputError("date must look like 2024-05-01") from None
    entry = await threaded(resend, context.holder, str(form.get("user", "")), date)
    return redirect(f"/admin?done=Digest+of+{entry.user}+for+{entry.date}+queued+again")
