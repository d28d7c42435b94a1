"""The reader's web app: an ASGI app that ``paperrec serve`` mounts beside the JSON API.

Server-rendered Jinja2 pages, every asset served from this package (no CDN, works
offline), forms that work without JavaScript and a small script that makes votes happen in
place. Handlers are thin: they read the session and the form, call what the feed
(`feed.py`: a reader's ranked papers), the catalog (`catalog.py`: papers, search, explore),
`paperrec.serving` and `paperrec.users` compute, and render a template (`pages.py`).

`create_app` builds the app; `attach` gives it the running service's runtime and predictor
holder once they are loaded (BentoML creates the service after the app is mounted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from paperrec.runtime import Runtime
from paperrec.serving.holder import PredictorHolder
from paperrec.web import account, admin, docs, pages, signin
from paperrec.web.catalog import Catalog
from paperrec.web.feed import Feed
from paperrec.web.session import COOKIE, RateLimit, Sessions

HERE = Path(__file__).parent
SIGNIN_PER_ACCOUNT = 5  # sign-in requests per account per window
SIGNIN_PER_CLIENT = 20  # sign-in requests (links and keys) per client address per window
SIGNIN_WINDOW_SECONDS = 15 * 60


@dataclass
class WebContext:
    """What the pages use: the service's runtime and models, and the web's own state."""

    runtime: Runtime
    holder: PredictorHolder
    feed: Feed
    catalog: Catalog
    sessions: Sessions | None
    per_account: RateLimit
    per_client: RateLimit
    openapi: Callable[[], dict] | None = None

    @classmethod
    def create(
        cls, runtime: Runtime, holder: PredictorHolder, openapi: Callable[[], dict] | None = None
    ) -> WebContext:
        settings = runtime.settings
        secret = settings.token_secret
        sessions = (
            Sessions(secret, settings.public_url.lower().startswith("https://"))
            if secret is not None and secret.get_secret_value()
            else None
        )
        feed = Feed(holder)
        return cls(
            runtime, holder, feed, Catalog(holder, feed), sessions,
            RateLimit(SIGNIN_PER_ACCOUNT, SIGNIN_WINDOW_SECONDS),
            RateLimit(SIGNIN_PER_CLIENT, SIGNIN_WINDOW_SECONDS), openapi,
        )  # fmt: skip


ROUTES = [
    Route("/", pages.today),
    Route("/signin", signin.signin),
    Route("/signin/email", signin.signin_email, methods=["POST"]),
    Route("/signin/key", signin.signin_key, methods=["POST"]),
    Route("/signin/link/{token}", signin.signin_link, methods=["GET", "POST"]),
    Route("/signout", signin.signout, methods=["POST"]),
    Route("/paper/{paper_id:path}", pages.paper),
    Route("/search", pages.search),
    Route("/explore", pages.explore),
    Route("/u/{name}/vote", pages.vote, methods=["POST"]),
    Route("/u/{name}/library", account.library),
    Route("/u/{name}/library/undo", account.library_undo, methods=["POST"]),
    Route("/u/{name}/library/import", account.library_import, methods=["POST"]),
    Route("/u/{name}/library/export.{kind}", account.library_export),
    Route("/u/{name}/settings", account.settings, methods=["GET"]),
    Route("/u/{name}/settings", account.settings_save, methods=["POST"]),
    Route("/u/{name}/keys", account.key_create, methods=["POST"]),
    Route("/u/{name}/keys/revoke", account.key_revoke, methods=["POST"]),
    Route("/docs", docs.docs),
    Route("/docs/openapi.json", docs.openapi),
    Route("/admin", admin.admin),
    Route("/admin/resend", admin.admin_resend, methods=["POST"]),
    Route("/admin/invite", admin.admin_invite, methods=["POST"]),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
# First path segments the web app answers; the gate lets forms through to these only.
FORM_PATHS = ("/signin", "/signout", "/u/", "/admin/")


def create_app() -> Starlette:
    app = Starlette(routes=ROUTES)
    app.state.context = None
    return app


def attach(
    app: Starlette,
    runtime: Runtime,
    holder: PredictorHolder,
    openapi: Callable[[], dict] | None = None,
) -> WebContext:
    """Give ``app`` the service's runtime and holder (call once they are loaded);
    ``openapi`` returns the service's OpenAPI description for /docs."""
    app.state.context = WebContext.create(runtime, holder, openapi)
    app.state.context.catalog.warm()
    return app.state.context


def reader_of(app: Starlette, cookies: dict[str, str]) -> str | None:
    """The reader a request's session cookie signs in, or None (no cookie, a forged or
    expired one, an admin or visitor session, or the app not attached yet). The service
    uses it to send a signed-in reader who confirmed a digest link to the paper's page."""
    context = app.state.context
    if context is None or context.sessions is None:
        return None
    session = context.sessions.load(cookies.get(COOKIE))
    return session.user if session is not None else None


def accepts_forms(path: str) -> bool:
    """Whether a POST to ``path`` is one of the web app's forms (not the JSON API)."""
    return path.startswith(FORM_PATHS)
