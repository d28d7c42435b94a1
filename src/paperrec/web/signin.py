"""Sign-in pages: ask for an email link, open it, sign in with an API key, sign out."""

from __future__ import annotations

from starlette.requests import Request

from paperrec.errors import AuthError, NetworkError
from paperrec.users.signin import key_account, redeem_link, send_link, verify_link_token
from paperrec.web.render import (
    Refused,
    handler,
    local_target,
    page,
    read_form,
    redirect,
    threaded,
)
from paperrec.web.session import new_session


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(context, request: Request, account: str) -> None:
    keys = [f"client:{_client(request)}"]
    if account:
        keys.append(f"account:{account.strip().lower()}")
    if not (context.per_client.allow(keys[0]) and context.per_account.allow(*keys[1:])):
        raise Refused(
            429, "too many sign-in attempts; wait a few minutes and try again", "Slow down"
        )


@handler
async def signin(request: Request, context, session):
    if session.signed_in:
        return redirect("/")
    return page(
        request, session, "signin.html", next=local_target(request.query_params.get("next"))
    )


@handler
async def signin_email(request: Request, context, session):
    form = await read_form(request, session)
    who = str(form.get("who", "")).strip()
    if not who:
        raise Refused(400, "enter your user name or email address", "Sign in")
    _limit(context, request, who)
    try:
        await threaded(send_link, context.runtime.store, context.runtime.settings, who)
    except NetworkError as exc:
        raise Refused(
            503, f"the sign-in email could not be sent: {exc}", "Email not sent"
        ) from None
    return page(request, session, "signin_sent.html", who=who)


@handler
async def signin_key(request: Request, context, session):
    form = await read_form(request, session)
    _limit(context, request, "")
    try:
        admin, user = await threaded(key_account, context.runtime.store, str(form.get("key", "")))
    except AuthError:
        raise Refused(
            403, "that API key is not known here; check it and try again", "Sign in"
        ) from None
    request.state.session = new_session(user, admin)
    return redirect(local_target(str(form.get("next", "")), "/" if user else "/explore"))


@handler
async def signin_link(request: Request, context, session):
    """GET shows a button (mail scanners fetch links; they must not use them up); the
    button POSTs, which consumes the link and signs in."""
    token = request.path_params["token"]
    secret = context.runtime.settings.token_secret
    try:
        verify_link_token(secret, token)
    except AuthError as exc:
        raise Refused(403, str(exc), "Sign-in link refused") from None
    if request.method == "GET":
        return page(request, session, "signin_link.html", token=token)
    await read_form(request, session)
    _limit(context, request, "")
    try:
        user = await threaded(redeem_link, context.runtime.store, secret, token)
    except AuthError as exc:
        raise Refused(403, str(exc), "Sign-in link refused") from None
    request.state.session = new_session(user)
    return redirect("/")


@handler
async def signout(request: Request, context, session):
    await read_form(request, session)
    request.state.session = new_session()
    return redirect("/signin")
