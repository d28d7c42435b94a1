"""Templates, the session around each request, and error pages for the web app.

`handler` wraps a page function: it loads the session (a visitor without one gets a new
one), passes it in, and writes the session cookie back when it changed. Expected library
errors become an HTML page with the right status; `Refused` carries a status of its own.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from paperrec import __version__
from paperrec.errors import AuthError, InputError, NotFoundError, PaperrecError
from paperrec.web.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, new_session

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024  # a form without a file
_STATUS = ((NotFoundError, 404), (AuthError, 403), (InputError, 400), (PaperrecError, 503))

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals["version"] = __version__
environment.filters["query"] = lambda params: urlencode(
    {k: v for k, v in params.items() if v not in (None, "")}
)


class Refused(Exception):
    """A request answered with ``status`` and a one-line ``message`` page; nothing written."""

    def __init__(self, status: int, message: str, title: str = "Not possible"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


def context_of(request: Request):
    context = request.app.state.context
    if context is None:
        raise Refused(503, "paperrec is still starting; try again in a moment", "Starting")
    if context.sessions is None:
        raise Refused(
            503,
            "this server has no PAPERREC_TOKEN_SECRET, which signs sessions and sign-in "
            "links; the administrator sets it and restarts paperrec serve",
            "Web app not configured",
        )
    return context


def page(
    request: Request, session: Session, template: str, status: int = 200, **values
) -> HTMLResponse:
    body = environment.get_template(template).render(
        session=session, csrf_field=CSRF_FIELD, path=request.url.path, **values
    )
    return HTMLResponse(body, status_code=status)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def handler(func: Callable[..., Awaitable[Response]]):
    """Run a page with ``(request, context, session)`` and keep the session cookie."""

    @functools.wraps(func)
    async def endpoint(request: Request) -> Response:
        session, loaded, context = Session(""), None, None
        try:
            context = context_of(request)
            loaded = context.sessions.load(request.cookies.get(COOKIE))
            session = loaded or new_session()
            request.state.session = session
            response = await func(request, context, session)
        except Refused as exc:
            response = refusal(request, session, exc.status, exc.message, exc.title)
        except PaperrecError as exc:
            status = next(code for kind, code in _STATUS if isinstance(exc, kind))
            response = refusal(request, session, status, str(exc))
        final = getattr(request.state, "session", session)
        if context is not None and final.csrf and final != loaded:
            response.set_cookie(
                value=context.sessions.dump(final), **context.sessions.cookie_options()
            )
        return response

    return endpoint


def refusal(
    request: Request, session: Session, status: int, message: str, title: str = ""
) -> Response:
    title = title or {400: "Bad request", 403: "Not allowed", 404: "Not found"}.get(
        status, "Not possible"
    )
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return page(request, session, "error.html", status, title=title, message=message)


async def read_form(request: Request, session: Session, max_bytes: int = MAX_FORM_BYTES):
    """The posted form after its CSRF token checked out; Refused otherwise."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise Refused(
            413, f"the form is over {max_bytes // 1024} kB; nothing was saved", "Too large"
        )
    form = await request.form(max_files=1, max_fields=200, max_part_size=max_bytes)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not session.checks(token):
        raise Refused(
            403,
            "this form has no valid security token (it is old, or it came from another site); "
            "reload the page and try again; nothing was saved",
            "Form refused",
        )
    return form


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_target(url: str | None, default: str = "/") -> str:
    """``url`` when it is a path on this site (never another host), else ``default``."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default


def require_reader(session: Session) -> str:
    if session.user is None:
        raise Refused(403, "sign in as a reader to see this page", "Sign in first")
    return session.user


def as_json(data) -> str:
    return json.dumps(data)


threaded = run_in_threadpool
