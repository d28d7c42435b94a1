"""ASGI middleware in front of the service: body limits, media type, health probes.

BentoML reads a whole request body before validating it and has no size limit of its own,
so this gate reads POST bodies itself, refuses one over ``max_bytes`` with a 413 (after
draining a moderate excess, so the client reads the answer instead of a reset), refuses
non-JSON bodies with a 415 (a form post only on the feedback-link pages and the web app's
form paths), and hands the buffered body on. A body that stalls for ``idle_seconds``
between two chunks gets a 408. It also answers ``GET /healthz`` and ``GET /readyz`` with
JSON, which BentoML's own probes (plain text, at the same paths) cannot carry; readiness
and model versions come from the service. The router's plain-text 404 and 405 answers are
turned into the same JSON error shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPES = ("application/json", "")
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_PATHS = ("/feedback/",)  # the confirmation page's button posts a form here
# HTML forms of the web app (see ``forms``): urlencoded, or multipart for an upload.
FORM_TYPES = (FORM_TYPE, "multipart/form-data")

# Beyond this many times the limit the excess is not drained; the connection is closed.
DRAIN_FACTOR = 4


async def send_json(
    send: Send, status: int, data: dict, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(data).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """Parameters: ``app`` the wrapped ASGI app; ``max_bytes`` the largest body accepted;
    ``probes`` returns (ready, details) for /readyz, None before the service exists;
    ``forms(path)`` says whether a POST to ``path`` may carry an HTML form (the web app's)."""

    def __init__(
        self,
        app,
        *,
        max_bytes: int,
        probes: Callable[[], tuple[bool, dict] | None],
        idle_seconds: float = 20.0,
        forms: Callable[[str], bool] = lambda path: False,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.probes = probes
        self.idle_seconds = idle_seconds
        self.forms = forms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD") and path in ("/healthz", "/readyz"):
            return await self._probe(path, send)
        send = _json_routing_errors(send, method, path)
        if method != "POST":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        form_ok = (media == FORM_TYPE and path.startswith(FORM_PATHS)) or (
            media in FORM_TYPES and self.forms(path)
        )
        if media not in JSON_TYPES and not form_ok:
            await self._drain(receive, self.max_bytes)
            return await send_json(
                send, 415, {"error": f"unsupported media type {media!r}; send application/json"}
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive, self.max_bytes * DRAIN_FACTOR)
            return await self._too_large(send, int(declared))
        try:
            body, size = await self._read(receive)
        except TimeoutError:
            return await send_json(
                send,
                408,
                {"error": f"the request body stalled for {self.idle_seconds:g} s"},
                {"connection": "close"},
            )
        if body is None:
            return await self._too_large(send, size)
        return await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, int]:
        """The whole body, or (None, bytes seen) once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            with anyio.fail_after(self.idle_seconds):
                message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), size
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._drain(receive, self.max_bytes * DRAIN_FACTOR - size, message)
                return None, size
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), size

    @staticmethod
    async def _drain(receive: Receive, budget: int, last: Message | None = None) -> None:
        """Read and drop what is left of the body, up to ``budget`` bytes."""
        message = last
        while budget > 0 and (message is None or message.get("more_body", False)):
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            budget -= len(message.get("body", b""))

    async def _too_large(self, send: Send, size: int) -> None:
        await send_json(
            send,
            413,
            {
                "error": f"request body of {size} bytes or more is over the limit of "
                f"{self.max_bytes} bytes (PAPERREC_LIMIT_MAX_REQUEST_BYTES)"
            },
            {"connection": "close"},
        )

    async def _probe(self, path: str, send: Send) -> None:
        if path == "/healthz":
            return await send_json(send, 200, {"status": "ok"})
        state = self.probes()
        if state is None:
            return await send_json(send, 503, {"ready": False, "error": "service is starting"})
        ready, details = state
        await send_json(send, 200 if ready else 503, {"ready": ready, **details})


def _json_routing_errors(send: Send, method: str, path: str) -> Send:
    """A send that rewrites plain-text 404/405 answers as ``{"error": ...}``."""
    held: Message | None = None

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message["status"] in (404, 405):
            kinds = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
            if not kinds or kinds[0].startswith(b"text/plain"):
                held = message
                return
        if held is None:
            return await send(message)
        if message.get("more_body", False):
            return  # the router's short text is dropped either way
        status = held["status"]
        what = "no such endpoint" if status == 404 else "method not allowed"
        body = json.dumps({"error": f"{what}: {method} {path}"}).encode("utf-8")
        headers = [
            (k, v)
            for k, v in held.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        held = None
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the buffered body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
