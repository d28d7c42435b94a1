"""paperrec's HTTP service: a BentoML service that only calls the library.

Start it with ``paperrec serve`` or, from this directory, ``bentoml serve``. Models are the
registry's champions (see `paperrec.serving.holder.PredictorHolder`); the store, the embedding cache
and the registry are those of ``PAPERREC_HOME``. docs/service.md describes the API.

Concurrent ``/score`` requests share one encode: ``/score`` validates its body, answers
repeated abstracts from memory, and hands the rest to a greedy batcher
(`paperrec.serving.batcher`): each ``Predictor.score`` call takes every paper that queued
while the previous one ran (two calls in flight when the encoder overlaps them). There is
no batching endpoint: nothing reaches the model without passing ``/score``'s limits.
"""

# ruff: noqa: E402  (the environment is set before any import loads OpenMP)
from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning. Spinning LightGBM threads (70 tiny predicts
# per /score) and torch threads burn the CPU that the other one, or a neighbour, needs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import functools
import gc
import inspect
import logging
from urllib.parse import quote

import anyio
import bentoml
from fastapi import FastAPI
from gate import Gate
from idle import install as install_idle_timeout
from prometheus_client import Counter
from pydantic import ValidationError
from schemas import (
    LIMITS,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    PaperIn,
    RankRequest,
    RankResponse,
    RecommendRequest,
    RecommendResponse,
    ReloadResponse,
    ScoreRequest,
    ScoreResponse,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from threadpoolctl import threadpool_limits

from paperrec.errors import AuthError, ForbiddenError, InputError, NotFoundError, PaperrecError
from paperrec.runtime import Runtime
from paperrec.schema import FeedbackEvent, FeedbackSource
from paperrec.serving import links as link_pages
from paperrec.serving.access import authorize_admin, authorize_key
from paperrec.serving.batcher import GreedyBatcher
from paperrec.serving.compute import ComputePool
from paperrec.serving.holder import SCORE_LANES, PredictorHolder
from paperrec.store.users import UnknownUserError
from paperrec.users.profiles import record_feedback
from paperrec.users.tokens import check_secret
from paperrec.web import accepts_forms, attach, create_app, reader_of

# The most papers merged into one encode (a single larger /score request is not split).
MAX_BATCH_PAPERS = 64
# On /metrics: how many encodes /score's batcher made and how many requests they served.
SCORE_BATCHES = Counter("paperrec_score_batches", "model calls made by the /score batcher")
SCORE_BATCHED = Counter("paperrec_score_batched_requests", "/score requests those calls served")
# Threads that record votes (/feedback): SQLite writes, never behind a ranking.
VOTE_THREADS = 4
# Rankings (/recommend) at once: two keep both cores busy (LightGBM and the sparse products
# release the GIL) without a third waiting for the same cores. Rankings and /score's
# encodes run at a lower CPU priority (`paperrec.serving.compute`), so a vote or the event
# loop gets a core at once even when they fill both.
RANKING_THREADS = 2

# Library errors as HTTP statuses; the first matching class wins.
_STATUS = (
    (ForbiddenError, 403),
    (AuthError, 401),
    (NotFoundError, 404),
    (InputError, 400),
    (PaperrecError, 503),  # the server cannot do it (no model, no token secret)
)
_ERRORS = {status: {"model": ErrorResponse} for _, status in _STATUS}


def json_response(
    body: dict, status: int, ctx: bentoml.Context | None = None, headers: dict | None = None
) -> JSONResponse:
    """A JSON answer with ``status``. BentoML gives an API that takes a context the
    context's status, so the status is set there too."""
    if ctx is not None:
        ctx.response.status_code = status
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: PaperrecError) -> int:
    return next(code for kind, code in _STATUS if isinstance(exc, kind))


def public_message(exc: PaperrecError) -> str:
    """What a client is told: an unknown user is named alone, never beside the others."""
    return exc.public_message if isinstance(exc, UnknownUserError) else str(exc)


def error_response(exc: PaperrecError, ctx: bentoml.Context | None = None) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response({"error": public_message(exc)}, status, ctx, headers)


def answers_errors(func):
    """Return a JSON error response for an expected library error instead of raising."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            try:
                return await func(*args, **kwargs)
            except PaperrecError as exc:
                return error_response(exc, kwargs.get("ctx"))

        return wrapper

    @functools.wraps(func)
    def sync_wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PaperrecError as exc:
            return error_response(exc, kwargs.get("ctx"))

    return sync_wrapper


def api_key(ctx: bentoml.Context) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    scheme, _, key = ctx.request.headers.get("authorization", "").strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def feedback_out(event: FeedbackEvent) -> FeedbackResponse:
    return FeedbackResponse(
        user=event.user,
        paper_id=event.paper_id,
        signal=event.signal.value,
        source=event.source.value,
        created_at=event.created_at.isoformat(timespec="seconds"),
    )


class _NoClientErrors(logging.Filter):
    """BentoML logs a traceback at ERROR for every body that fails validation; those are
    the client's mistakes, answered with a 400 and counted in the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ValidationError))


logging.getLogger("bentoml._internal.server.http_app").addFilter(_NoClientErrors())


def _probes() -> tuple[bool, dict] | None:
    try:
        service = bentoml.get_current_service()
    except Exception:  # BentoML raises a bare error before the service instance exists
        return None
    return service.readiness()


def _count_batch(requests: int) -> None:
    SCORE_BATCHES.inc()
    SCORE_BATCHED.inc(requests)


# NumPy's and SciPy's BLAS on one thread in this process: a ranking's products are small (a
# profile's ~1,000 papers by the window's ~200 or 512 background papers), two rankings and an
# encode already share the cores, and BLAS threads waiting for a busy core made a ranking
# 2-4x slower under load (bench/recommend_user.py). torch's own threads are not affected.
threadpool_limits(limits=1, user_api="blas")

web = create_app()  # the reader's web app: /, /signin, /paper/..., /static/... (paperrec.web)
links = FastAPI(title="paperrec feedback links", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(
    name="paperrec",
    workers=1,
    threads=1,  # sync APIs one at a time; model calls are serialised by the holder anyway
    traffic={"timeout": 300},
    logging={
        "access": {
            "enabled": True,
            "skip_paths": ["/metrics", "/healthz", "/livez", "/readyz"],
        }
    },
)
@bentoml.asgi_app(links, path="/feedback")
@bentoml.asgi_app(web, path="/")
class PaperrecService:
    """Scores and ranks arXiv abstracts with paperrec's champion models."""

    def __init__(self) -> None:
        self.runtime = Runtime()
        if self.runtime.settings.token_secret is not None:
            check_secret(self.runtime.settings.token_secret)  # a weak secret: refuse to start
        # Loaded (and warmed up) on the encode thread, so torch's and LightGBM's thread
        # pools are made there, at its priority, before any request.
        self.encodes = ComputePool("encode", SCORE_LANES)
        self.holder = self.encodes.call(PredictorHolder.load, self.runtime)
        self.rankings = ComputePool("ranking", RANKING_THREADS)
        self.batcher = GreedyBatcher(
            self.holder.score,
            MAX_BATCH_PAPERS,
            _count_batch,
            run=self.encodes.run,
            lanes=self.holder.score_lanes,  # 2 with OpenVINO's streams, else 1
        )
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self.holder.watch(self.runtime.settings.reload_interval)
        attach(web, self.runtime, self.holder, openapi=lambda: self.openapi())
        # Everything loaded so far (the libraries, numba's and LightGBM's among them, and
        # the models) lives as long as the server: out of the collector's reach, a full
        # collection walks only what requests made since. It walked it all before, 114-224
        # ms with every thread stopped, and each vote that arrived then waited that long.
        gc.freeze()

    def openapi(self) -> dict:
        """This service's OpenAPI description (shown at /docs by the web app)."""
        return PaperrecService.openapi_spec.asdict()

    @bentoml.on_shutdown
    def stop_watching(self) -> None:
        self.holder.stop()
        self.encodes.close()
        self.rankings.close()

    def readiness(self) -> tuple[bool, dict]:
        """(ready, body of /readyz): models loaded, their versions, the encoder in use
        (backend and precision), the last reload error, and the worker process that
        answered (``paperrec serve --workers N`` runs N, each with its own models)."""
        return True, {
            "versions": self.holder.versions,
            "embedding": self.runtime.embedder.describe(),
            "reload_error": self.holder.last_error,
            "worker": os.getpid(),
        }

    @bentoml.api(input_spec=ScoreRequest)
    async def score(self, papers: list[PaperIn]) -> ScoreResponse:
        """Topic probabilities and labels for each paper, as `paperrec score` gives them."""
        rows = self.holder.recall([p.to_input() for p in papers])
        missing = [paper for paper, row in zip(papers, rows, strict=True) if row is None]
        if missing:  # only papers not answered from memory are scored, with other requests'
            fresh = iter(await self.batcher.submit([p.to_input() for p in missing]))
            rows = [next(fresh) if row is None else row for row in rows]
        return ScoreResponse(results=rows)

    @bentoml.api(input_spec=RankRequest)
    @answers_errors
    def rank(
        self,
        liked: list[PaperIn],
        disliked: list[PaperIn],
        candidates: list[PaperIn],
        topics: list[str],
        k: int,
    ) -> RankResponse:
        """The best k candidates for a profile, best first, with reasons (as `paperrec rank`)."""
        with self.holder.using() as predictor:
            rows = predictor.rank(
                [p.to_input() for p in liked],
                [p.to_input() for p in candidates],
                disliked=[p.to_input() for p in disliked],
                topics=topics,
                k=k,
            )
        return RankResponse(results=rows)

    @bentoml.api(input_spec=RecommendRequest)
    @answers_errors
    async def recommend(
        self, user: str, k: int, mark_shown: bool, ctx: bentoml.Context
    ) -> RecommendResponse:
        """Stored papers a user has not seen yet, best first (the user's or an admin key)."""
        key = api_key(ctx)

        def rank() -> list:
            authorize_key(self.runtime.store, key, user)
            # Not behind the model lock: only encoding papers never seen before takes it.
            return self.holder.predictor.recommend(user, k=k, mark_shown=mark_shown)

        ranked = await self.rankings.run(rank)
        return RecommendResponse(
            user=user, results=[{**r.as_dict(), "title": r.title} for r in ranked]
        )

    @bentoml.api(route="/feedback", input_spec=FeedbackRequest)
    @answers_errors
    async def feedback(
        self, user: str, paper_id: str, signal: str, ctx: bentoml.Context
    ) -> FeedbackResponse:
        """Record a user's feedback on a stored paper. Needs the user's or an admin API key.

        Votes run in threads of their own, so a vote never waits for a ranking to end."""
        key = api_key(ctx)

        def vote() -> FeedbackEvent:
            authorize_key(self.runtime.store, key, user)
            return record_feedback(self.runtime.store, user, paper_id, signal, FeedbackSource.HTTP)

        event = await anyio.to_thread.run_sync(vote, limiter=self._limiter("votes", VOTE_THREADS))
        return feedback_out(event)

    def _limiter(self, name: str, threads: int) -> anyio.CapacityLimiter:
        """A thread pool bound per kind of work, made on the event loop at first use."""
        if name not in self._limiters:
            self._limiters[name] = anyio.CapacityLimiter(threads)
        return self._limiters[name]

    @links.get("/{token}", response_class=HTMLResponse)
    def confirm_click(self, token: str):
        """A feedback link from a digest: a page asking to confirm; nothing is recorded
        (mail scanners fetch every link). Its button POSTs to the same URL."""
        try:
            click = link_pages.check_click(
                self.runtime.store, self.runtime.settings.token_secret, token
            )
        except PaperrecError as exc:
            return HTMLResponse(link_pages.error_page(public_message(exc)), status_of(exc))
        return HTMLResponse(link_pages.confirmation_page(click))

    @links.post(
        "/{token}",
        responses={status: {"model": ErrorResponse} for status in (403, 404, 503)},
    )
    def click(self, token: str, request: Request):
        """Record the vote of a digest link (the confirmation page's button). Answers a
        page, or JSON (`FeedbackResponse`) when the request accepts application/json; a
        reader signed in to the web app as the link's user lands on the paper's page."""
        wants_json = "application/json" in request.headers.get("accept", "")
        secret = self.runtime.settings.token_secret
        try:
            event = link_pages.record_click(self.runtime.store, secret, token)
        except PaperrecError as exc:
            if wants_json:
                return error_response(exc)
            return HTMLResponse(link_pages.error_page(public_message(exc)), status_of(exc))
        if wants_json:
            return JSONResponse(feedback_out(event).model_dump())
        if reader_of(web, request.cookies) == event.user:
            return RedirectResponse(f"/paper/{quote(event.paper_id, safe='/')}", status_code=303)
        return HTMLResponse(link_pages.recorded_page(event))

    @bentoml.api
    @answers_errors
    def reload(self, ctx: bentoml.Context) -> ReloadResponse:
        """Load the registry's champions now (admin key). 409 when they fail to load."""
        authorize_admin(self.runtime.store, api_key(ctx))
        outcome = self.holder.refresh(force=True)
        body = ReloadResponse(
            reloaded=outcome.changed, versions=outcome.versions, error=outcome.error
        )
        if outcome.error:
            return json_response(body.model_dump(), 409, ctx)
        return body


PaperrecService.add_asgi_middleware(
    Gate,
    max_bytes=LIMITS.max_request_bytes,
    probes=_probes,
    idle_seconds=LIMITS.idle_seconds,
    forms=accepts_forms,  # the web app's HTML forms
)
# A connection that sends no complete request for that long is closed.
install_idle_timeout(LIMITS.idle_seconds)
