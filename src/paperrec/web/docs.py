"""API docs at /docs: the service's OpenAPI description, titled paperrec with its version
and a bearer-token scheme, shown with the Swagger UI files BentoML ships (served by this
server; no third-party script or font)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from paperrec import __version__
from paperrec.web.render import environment

BEARER = {"type": "http", "scheme": "bearer", "description": "an API key: paperrec user key NAME"}


def describe(spec: dict) -> dict:
    """``spec`` titled paperrec with our version, every operation behind the bearer key."""
    spec = dict(spec)
    spec["info"] = {
        **spec.get("info", {}),
        "title": "paperrec",
        "version": __version__,
        "description": "Topic scores, rankings, recommendations and feedback. Endpoints "
        "that act for a reader need their API key (or an admin key): press Authorize.",
    }
    components = dict(spec.get("components", {}))
    components["securitySchemes"] = {"bearer": BEARER}
    spec["components"] = components
    spec["security"] = [{"bearer": []}]
    return spec


async def docs(request: Request):
    return HTMLResponse(environment.get_template("docs.html").render())


async def openapi(request: Request):
    context = request.app.state.context
    spec = context.openapi() if context is not None and context.openapi else {}
    return JSONResponse(describe(spec))
