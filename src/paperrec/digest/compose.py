"""Each user's digest for a date: which papers, ranked by the shared ranking, cut by budget.

For a user due a digest on ``date`` (`paperrec.digest.due.settle`), the candidates are the
papers announced from the day of their last digest to ``date`` (`paperrec.recommend.window.window`)
that they have not been shown, rated, or been sent in an earlier digest. They are ranked
with `Predictor.rank_profile` (the same ranking as ``paperrec recommend`` and the service),
cut by the user's `DigestSettings`, and turned into `DigestContent` with topic tags, a
"why" line, signed feedback links and, if wanted, a trending section.

Users who share a window share one `CandidateSet`: the papers are embedded, vectorised and
topic-scored once, not once per user. Nothing here writes; recording and sending is
`paperrec.digest.delivery`'s job.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property

from threadpoolctl import threadpool_limits

from paperrec.config import Settings
from paperrec.digest.budget import DigestSettings, apply_budget, describe
from paperrec.digest.content import TopicTag, Trending, build_content, make_trending
from paperrec.digest.due import Due, Planned, settle
from paperrec.errors import InputError, PaperrecError
from paperrec.recommend.rank import CandidateSet, RankedPaper
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.serving.predictor import Predictor
from paperrec.users.ranking_profile import user_profile

TRENDING_DAYS = 7
TRENDING_SIZE = 5
MAX_TOPIC_TAGS = 3
MIN_USERS_PER_WORKER = 150  # below this, starting a worker (~3 s) costs more than it saves
CHUNK_USERS = 25  # users per task sent to a worker


@dataclass
class Window:
    """The papers of one announcement window, prepared once for every user who shares it."""

    since: dt.date
    until: dt.date
    papers: list[Paper]
    prepared: CandidateSet | None
    tags: dict[str, tuple[tuple[str, str, float], ...]]
    main_topic: dict[str, str | None]
    topic_names: dict[str, str]

    @cached_property
    def by_id(self) -> dict[str, Paper]:
        return {p.id: p for p in self.papers}


def plan_digests(
    predictor: Predictor,
    names: Sequence[str],
    date: dt.date,
    *,
    max_days: int = DEFAULT_WINDOW_DAYS,
    now: float | None = None,
    workers: int = 1,
) -> Iterator[Planned]:
    """Compose the digest of each user in ``names`` for ``date``: first those with nothing to
    compose (`settle`), then the due ones (`compose_due`).

    Parameters
    ----------
    predictor
        Loaded champion models; its store supplies users, papers and the outbox.
    names
        Users to compose for.
    date
        The digest's date: the last announcement date it covers.
    max_days
        How far a first digest (or one after a long pause) looks back, in days.
    now
        Unix time the feedback links are signed at (default: the clock).
    workers
        Processes that compose in parallel (ranking one user is Python-bound work that
        threads cannot share); used only with at least `MIN_USERS_PER_WORKER` users each.
    """
    settled, due = settle(predictor.runtime.store, names, date, max_days=max_days)
    yield from settled
    yield from compose_due(predictor, due, date, now=now, workers=workers)


def compose_due(
    predictor: Predictor,
    jobs: Sequence[Due],
    date: dt.date,
    *,
    now: float | None = None,
    workers: int = 1,
) -> Iterator[Planned]:
    """Compose the digest of each due user (from `settle`) for ``date``, in order."""
    if not jobs:
        return
    issued = time.time() if now is None else now
    liked = _liked_lately(predictor, date) if any(j.budget.trending for j in jobs) else []
    workers = min(workers, len(jobs) // MIN_USERS_PER_WORKER)
    if workers > 1:
        yield from _in_workers(predictor, jobs, date, liked, issued, workers)
    else:
        yield from _in_process(predictor, jobs, date, liked, issued)


def _in_process(
    predictor: Predictor, jobs, date: dt.date, liked, issued: float
) -> Iterator[Planned]:
    """Compose ``jobs`` here, one window prepared at a time (jobs come sorted by window).

    BLAS and OpenMP run on one thread: the arrays of one user are small, and a second
    thread would only spin."""
    shared: Window | None = None
    with threadpool_limits(limits=1):
        for job in jobs:
            if shared is None or shared.since != job.since:
                shared = prepare_window(predictor, job.since, date)
            yield _compose_one(predictor, job, shared, date, liked, issued)


def _in_workers(
    predictor: Predictor, jobs, date: dt.date, liked, issued: float, workers: int
) -> Iterator[Planned]:
    """Compose ``jobs`` in ``workers`` fresh processes, in chunks, results in order."""
    store, embedder = predictor.runtime.store, predictor.runtime.embedder
    for since in sorted({job.since for job in jobs}):
        embedder.embed(store.papers.iter_papers(since=since, until=date))  # once, not per worker
    chunks = [jobs[i : i + CHUNK_USERS] for i in range(0, len(jobs), CHUNK_USERS)]
    context = multiprocessing.get_context("spawn")  # no forked copies of threads or sockets
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker,
        initargs=(predictor.runtime.settings, predictor.versions),
    ) as pool:  # fmt: skip
        n = len(chunks)
        for planned in pool.map(_compose_chunk, chunks, [date] * n, [liked] * n, [issued] * n):
            yield from planned


_WORKER: dict = {}


def _start_worker(settings: Settings, versions: dict[str, str]) -> None:
    """In a worker process: load the same champion models, one thread per process."""
    _WORKER["limits"] = threadpool_limits(limits=1)
    predictor = Predictor.load(Runtime(settings))
    if predictor.versions != versions:
        raise PaperrecError(
            f"the champion models changed during the digest run ({versions} -> "
            f"{predictor.versions}); run paperrec digest again"
        )
    _WORKER["predictor"] = predictor
    _WORKER["window"] = None


def _compose_chunk(jobs, date: dt.date, liked, issued: float) -> list[Planned]:
    predictor, shared = _WORKER["predictor"], _WORKER["window"]
    planned = []
    for job in jobs:
        if shared is None or shared.since != job.since or shared.until != date:
            shared = _WORKER["window"] = prepare_window(predictor, job.since, date)
        planned.append(_compose_one(predictor, job, shared, date, liked, issued))
    return planned


def prepare_window(predictor: Predictor, since: dt.date, until: dt.date) -> Window:
    """The window's papers with their ranking arrays and topic tags, computed once."""
    papers = predictor.runtime.store.papers.iter_papers(since=since, until=until)
    if not papers:
        return Window(since, until, [], None, {}, {}, {})
    recommender = predictor.recommender()
    prepared = recommender.prepare(papers)
    tags: dict[str, tuple[TopicTag, ...]] = {}
    main: dict[str, str | None] = {}
    model = predictor.topic_model
    names: dict[str, str] = {}
    if model is not None:
        probabilities = prepared.arrays.topics
        if probabilities.shape[1] != len(model.topic_ids):  # the ranker uses no topics
            probabilities = model.predict_proba(prepared.arrays.X)
        names = {t.id: t.name for t in model.taxonomy.topics}
        column = {t: i for i, t in enumerate(model.topic_ids)}
        thresholds = model.thresholds
        for paper, row, labels in zip(
            papers, probabilities, model.labels(probabilities), strict=True
        ):
            shown = labels[:MAX_TOPIC_TAGS]
            tags[paper.id] = tuple(
                TopicTag(t, names.get(t, t), round(float(row[column[t]]), 2), thresholds[t])
                for t in shown
            )
            main[paper.id] = labels[0] if labels else None
    return Window(since, until, papers, prepared, tags, main, names)


def _select(
    predictor: Predictor, profile, shared: Window, excluded: set[str], budget: DigestSettings
) -> list[RankedPaper]:
    """The best papers of the window that fit the budget, ranked 1..n.

    Asks the ranking for enough papers to cover the ones excluded and, under a topic
    quota, for more, doubling while the quota leaves the digest short."""
    n = len(shared.papers)
    n_excluded = sum(p.id in excluded for p in shared.papers)
    want = budget.k * (3 if budget.topic_quota else 1)
    while True:
        fetch = min(n, want + n_excluded)
        ranked = predictor.rank_profile(profile, shared.prepared, k=fetch)
        fresh = [r for r in ranked if r.id not in excluded]
        kept = apply_budget(fresh, shared.main_topic, budget)
        if len(kept) >= budget.k or fetch >= n:
            break
        want *= 2
    return [replace(r, rank=i) for i, r in enumerate(kept, start=1)]


def _compose_one(
    predictor: Predictor,
    job: Due,
    shared: Window,
    date: dt.date,
    liked_lately: Sequence[tuple[Paper, int]],
    issued: float,
) -> Planned:
    name, email, budget, since = job.name, job.email, job.budget, job.since
    store, settings = predictor.runtime.store, predictor.runtime.settings
    profile = user_profile(store, name)
    excluded = set(profile.seen_ids) | job.held
    chosen: list[RankedPaper] = []
    if shared.prepared is not None and any(p.id not in excluded for p in shared.papers):
        try:
            chosen = _select(predictor, profile, shared, excluded, budget)
        except InputError as exc:  # e.g. no liked papers and no topics yet
            return Planned(name, email, date, "skipped", since=since, detail=str(exc))
    if not chosen and not budget.empty_notice:
        detail = f"nothing new from {since} to {date}"
        return Planned(name, email, date, "empty", since=since, detail=detail)
    trending: list[Trending] = []
    if budget.trending:
        skip = excluded | {r.id for r in chosen}
        fresh = [(p, n) for p, n in liked_lately if p.id not in skip]
        trending = [make_trending(p, n) for p, n in fresh[:TRENDING_SIZE]]
    content = build_content(
        name, email, chosen, secret=settings.token_secret, public_url=settings.public_url,
        date=date, papers=shared.by_id, topics=shared.tags,
        topic_names=shared.topic_names, trending=trending, since=since,
        settings_line=describe(budget), now=issued,
        link_user=(job.uid, job.token_generation),
    )  # fmt: skip
    return Planned(name, email, date, "ready", content, since=since)


def _liked_lately(predictor: Predictor, date: dt.date) -> list[tuple[Paper, int]]:
    """Papers most liked across users in the week up to ``date``, with their like counts
    (a margin beyond `TRENDING_SIZE`, since each user's own papers are left out)."""
    store = predictor.runtime.store
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), dt.UTC)
    counts = store.users.most_liked(end - dt.timedelta(days=TRENDING_DAYS), TRENDING_SIZE * 10)
    papers = {p.id: p for p in store.papers.get_many([pid for pid, _ in counts])}
    return [(papers[pid], n) for pid, n in counts if pid in papers]
