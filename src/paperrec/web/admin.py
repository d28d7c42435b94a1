"""Admin pages (signed in with an admin API key): overview, re-sending a digest and
inviting a reader (created as by ``paperrec user add``, then emailed a sign-in link)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote_plus

from starlette.requests import Request

from paperrec.errors import InputError, NetworkError
from paperrec.serving.admin import metric_history, overview, resend
from paperrec.users.profiles import add_user
from paperrec.users.signin import send_link
from paperrec.web.render import Refused, handler, page, read_form, redirect, threaded


def _admin(session) -> None:
    if not session.admin:
        raise Refused(403, "this page is for administrators (sign in with an admin API key)")


@handler
async def admin(request: Request, context, session):
    _admin(session)
    view = await threaded(overview, context.holder)
    message = request.query_params.get("done", "")
    columns, history = metric_history(view.gates)
    return page(
        request, session, "admin.html", view=view, message=message, columns=columns,
        history=history, latest=view.gates[0] if view.gates else None,
    )  # fmt: skip


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


@handler
async def admin_invite(request: Request, context, session):
    _admin(session)
    form = await read_form(request, session)
    name, email = str(form.get("name", "")).strip(), str(form.get("email", "")).strip()
    if not name or not email:
        raise Refused(400, "enter the new reader's name and email address; nothing was written")
    model = context.holder.predictor.topic_model
    known = set(model.taxonomy.ids) if model is not None else None
    store, settings = context.runtime.store, context.runtime.settings
    await threaded(add_user, store, name, email, str(form.get("topics", "")), known_topics=known)
    try:
        await threaded(send_link, store, settings, name)
    except NetworkError as exc:
        done = (
            f"{name} was added, but the sign-in email could not be sent ({exc}); "
            f"paperrec user link {name} prints a link"
        )
    else:
        done = f"Invited {name}: a sign-in link went to {email}"
    return redirect(f"/admin?done={quote_plus(done)}")
