"""Every stored paper for the web app: a paper's page, similar papers, search and explore.

`PaperIndex` holds the unit-length embedding of every stored paper that has one (read from
the embedding cache, never computed here), so "similar papers" and the semantic half of
search are one matrix product. It is rebuilt when the number of stored papers changes.
Search combines the store's full-text match (`paperrec.store.fulltext`) with the query
embedded by the same encoder, by reciprocal-rank fusion.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paperrec.digest.content import arxiv_url, pdf_url, shorten
from paperrec.errors import InputError, NotFoundError
from paperrec.papers.embed import EMBEDDING_DIM
from paperrec.schema import Paper
from paperrec.serving.compute import lower_priority
from paperrec.serving.holder import PredictorHolder
from paperrec.web.feed import Feed

SIMILAR = 8
RESULTS = 30
FUSION_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
MAX_QUERY_CHARS = 300
ORDERS = ("trending", "newest")
LABEL_BATCH = 2000  # papers labelled per model call while the index is built


@dataclass(frozen=True)
class TopicScore:
    id: str
    name: str
    probability: float
    is_area: bool
    threshold: float  # the classifier labels the paper with it at or above this
    label: bool


@dataclass(frozen=True)
class Listing:
    """A paper in a list (search results, similar papers, explore)."""

    id: str
    title: str
    authors: tuple[str, ...]
    date: dt.date | None
    summary: str
    abs_url: str | None
    topics: tuple[tuple[str, str], ...]  # (id, name) of its labels, most probable first
    likes: int = 0
    similarity: float | None = None


@dataclass(frozen=True)
class PaperView:
    paper: Paper
    abs_url: str | None
    pdf_url: str | None
    topics: tuple[TopicScore, ...]  # highest first
    similar: tuple[Listing, ...]
    signal: str | None  # the reader's latest vote on it


@dataclass(frozen=True)
class ExplorePage:
    since: dt.date | None
    until: dt.date | None
    days: int
    order: str
    topic: str | None
    papers: tuple[Listing, ...]
    areas: tuple[tuple[str, str, int], ...]
    fine: tuple[tuple[str, str, int], ...]
    total: int


class PaperIndex:
    """Ids, unit-length vectors (n, dim) and topic labels of the stored papers that have an
    embedding; ``key`` is what it was built for (stored papers, topic model version)."""

    def __init__(self, ids: list[str], vectors: np.ndarray, labels: list[tuple], key: tuple):
        self.ids = ids
        self.vectors = vectors
        self.labels = labels  # per paper: ((topic id, name), ...) most probable first, <= 3
        self.key = key
        self.row = {pid: i for i, pid in enumerate(ids)}

    def nearest(self, query: np.ndarray, k: int, exclude: str | None = None) -> list[tuple]:
        """(id, cosine) of the ``k`` papers closest to ``query`` (dim,), best first."""
        if not self.ids:
            return []
        sims = self.vectors @ query.astype(np.float32)
        top = np.argpartition(-sims, min(k + 1, len(sims) - 1))[: k + 1]
        order = top[np.argsort(-sims[top], kind="stable")]
        return [(self.ids[i], float(sims[i])) for i in order if self.ids[i] != exclude][:k]


class Catalog:
    """Paper pages, search and explore over the store, for the web app."""

    def __init__(self, holder: PredictorHolder, feed: Feed):
        self.holder = holder
        self.feed = feed
        self._index: PaperIndex | None = None
        self._lock = threading.Lock()
        self._build = threading.Lock()  # one build at a time

    @property
    def store(self):
        return self.holder.runtime.store

    def index(self) -> PaperIndex:
        """The index of the stored papers, built again when papers or the topic model
        change (the first build reads every vector and labels every paper: seconds)."""
        key = (self.store.papers.count(), self.holder.predictor.versions.get("topics"))
        with self._build:
            with self._lock:
                if self._index is not None and self._index.key == key:
                    return self._index
            papers = self.store.papers.iter_papers()
            model_id = self.holder.runtime.embedder.model_id
            hashes = [p.content_hash for p in papers]
            vectors, found = self.store.embeddings.lookup(model_id, hashes, EMBEDDING_DIM)
            keep = np.flatnonzero(found)
            vectors = vectors[keep]
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            labels: list[tuple] = []
            for start in range(0, len(keep), LABEL_BATCH):
                labels += self._labels(vectors[start : start + LABEL_BATCH])
            index = PaperIndex([papers[i].id for i in keep], vectors, labels, key)
            with self._lock:
                self._index = index
            return index

    def warm(self) -> threading.Thread:
        """Build the index in a background thread (so the first search does not wait), at
        the lower priority of the service's other heavy work (`paperrec.serving.compute`)."""

        def build() -> None:
            lower_priority()
            self.index()

        thread = threading.Thread(target=build, name="paperrec-web-index", daemon=True)
        thread.start()
        return thread

    def _labels(self, X: np.ndarray) -> list[tuple[tuple[str, str], ...]]:
        model = self.holder.predictor.topic_model
        if model is None or not len(X):
            return [()] * len(X)
        names = {t.id: t.name for t in model.taxonomy.topics}
        with self.holder.using():
            labels = model.labels(model.predict_proba(X))
        return [tuple((t, names.get(t, t)) for t in row[:3]) for row in labels]

    def _listings(self, papers: Sequence[Paper], **extra) -> list[Listing]:
        index = self.index()
        likes = self.store.activity.like_counts([p.id for p in papers])
        out = []
        for paper in papers:
            out.append(
                Listing(
                    paper.id, paper.title, tuple(paper.authors), paper.date,
                    shorten(paper.abstract, 240), arxiv_url(paper.id),
                    index.labels[index.row[paper.id]] if paper.id in index.row else (),
                    likes.get(paper.id, 0),
                    extra.get("similarity", {}).get(paper.id),
                )
            )  # fmt: skip
        return out

    # -- one paper -----------------------------------------------------------------------
    def paper(self, paper_id: str, user: str | None = None) -> PaperView:
        found = self.store.papers.get_many([paper_id])
        if not found:
            raise NotFoundError(f"no stored paper {paper_id!r}")
        paper = found[0]
        with self.holder.using() as predictor:
            X = predictor.runtime.embedder.embed([paper])
            model = predictor.topic_model
            topics: list[TopicScore] = []
            if model is not None:
                probabilities = model.predict_proba(X)
                labels = set(model.labels(probabilities)[0])
                thresholds = model.thresholds
                for topic, p in zip(model.taxonomy.topics, probabilities[0], strict=True):
                    topics.append(
                        TopicScore(
                            topic.id, topic.name, float(p), topic.is_area,
                            thresholds[topic.id], topic.id in labels,
                        )
                    )  # fmt: skip
        topics.sort(key=lambda t: -t.probability)
        vector = X[0] / max(float(np.linalg.norm(X[0])), 1e-12)
        near = self.index().nearest(vector, SIMILAR, exclude=paper.id)
        similar_papers = self.store.papers.get_many([pid for pid, _ in near])
        similar = self._listings(similar_papers, similarity=dict(near))
        signal = self.store.activity.latest_signal(user, paper.id) if user else None
        return PaperView(
            paper, arxiv_url(paper.id), pdf_url(paper.id), tuple(topics), tuple(similar), signal
        )

    # -- search --------------------------------------------------------------------------
    def search(self, query: str, limit: int = RESULTS) -> list[Listing]:
        """Stored papers for a free-text query: full-text and embedding matches fused."""
        query = " ".join(query.split())
        if len(query) > MAX_QUERY_CHARS:
            raise InputError(f"the query is over {MAX_QUERY_CHARS} characters; shorten it")
        if not query:
            return []
        lexical = self.store.papers.search_text(query, limit=limit * 2)
        with self.holder.using() as predictor:
            vector = predictor.runtime.embedder.encode_texts([query])[0]
        semantic = [pid for pid, _ in self.index().nearest(vector, limit * 2)]
        fused: dict[str, float] = {}
        for ranking in (lexical, semantic):
            for position, pid in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (FUSION_K + position + 1)
        best = sorted(fused, key=lambda pid: -fused[pid])[:limit]
        return self._listings(self.store.papers.get_many(best))

    # -- explore -------------------------------------------------------------------------
    def explore(
        self,
        *,
        until: dt.date | None = None,
        days: int = 1,
        order: str = "trending",
        topic: str | None = None,
        limit: int = 100,
    ) -> ExplorePage:
        """All papers of a day or week, by trending (distinct readers' up-votes and saves)
        or newest, with topic facets (areas and fine topics) and counts."""
        if order not in ORDERS:
            raise InputError(f"unknown order {order!r}; available: {', '.join(ORDERS)}")
        span = self.feed.span(until, days)
        if span is None:
            return ExplorePage(None, None, days, order, topic, (), (), (), 0)
        window = self.feed.window(*span)
        model = self.holder.predictor.topic_model
        areas = set(model.taxonomy.area_ids) if model is not None else set()
        counts: dict[tuple[str, str], int] = {}
        for paper in window.papers:
            for tag in window.tags.get(paper.id, ()):
                counts[(tag.id, tag.name)] = counts.get((tag.id, tag.name), 0) + 1
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1]))
        facets = [(tid, name, n) for (tid, name), n in ordered]
        papers = [
            p for p in window.papers
            if not topic or any(t[0] == topic for t in window.tags.get(p.id, ()))
        ]  # fmt: skip
        likes = self.store.activity.like_counts([p.id for p in papers])
        if order == "trending":
            papers.sort(key=lambda p: (-likes.get(p.id, 0), -(p.date or dt.date.min).toordinal()))
        else:
            papers.sort(key=lambda p: (p.date or dt.date.min, p.id), reverse=True)
        listings = [
            Listing(
                p.id, p.title, tuple(p.authors), p.date, shorten(p.abstract, 240),
                arxiv_url(p.id), tuple((t.id, t.name) for t in window.tags.get(p.id, ())),
                likes.get(p.id, 0),
            )
            for p in papers[:limit]
        ]  # fmt: skip
        area_facets = tuple(f for f in facets if f[0] in areas)
        fine_facets = tuple(f for f in facets if f[0] not in areas)
        return ExplorePage(
            span[0], span[1], days, order, topic, tuple(listings), area_facets, fine_facets,
            len(papers),
        )  # fmt: skip
