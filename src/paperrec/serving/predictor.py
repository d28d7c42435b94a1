"""Predictor: the public API that the CLI, the service and the digest share (called
"predictor" so that "engine" only ever means SQLAlchemy's).

It holds the embedder and the champion models (exported at promotion) and answers the three
questions paperrec exists for: which topics is this paper about (``score``), how should
these candidates be ordered for this profile (``rank``), and what should this stored user
read next (``recommend``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from paperrec import bundles
from paperrec.errors import InputError, ModelNotTrainedError
from paperrec.papers.rows import InputPaper
from paperrec.recommend.model import RankingModel
from paperrec.recommend.rank import CandidateSet, RankedPaper, Recommender
from paperrec.recommend.window import DEFAULT_WINDOW_DAYS, window
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.serving.arrays import MemoEmbedder, MemoLexical, MemoTopics
from paperrec.serving.profiles import ProfileCache
from paperrec.topics.model import TopicModel
from paperrec.users.ranking_profile import UserProfile


@dataclass
class Predictor:
    runtime: Runtime
    topic_model: TopicModel | None = None
    ranking_model: RankingModel | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # Rows per in-memory memo of paper arrays for ranking; 0 (the CLI, the digest): none.
    memo_rows: int = 0
    # Users' profiles kept between calls (serving/profiles.py); by default none are kept.
    profiles: ProfileCache = field(default_factory=lambda: ProfileCache(0))
    # Held while the memoised embedder encodes (the service's model lock); None: no lock.
    encode_lock: object | None = None
    # (embedder, ranking model, topic model, Recommender built from them): see recommender()
    _recommender: tuple | None = field(default=None, init=False, repr=False, compare=False)
    # ((start, end), stamp, Recommender, CandidateSet) of the last window: see _window()
    _window_kept: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(
        cls, runtime: Runtime | None = None, *, topics: bool = True, ranker: bool = True
    ) -> Predictor:
        """The exported champion models (`paperrec.bundles.champion`); raises
        ModelNotTrainedError for a missing one."""
        runtime = runtime or Runtime()
        predictor = cls(runtime)
        if topics:
            path, version = bundles.champion(runtime.settings, "topics")
            predictor.topic_model = TopicModel.load(path)
            predictor.versions["topics"] = version
        if ranker:
            path, version = bundles.champion(runtime.settings, "ranker")
            predictor.ranking_model = RankingModel.load(path)
            predictor.versions["ranker"] = version
        predictor.versions["embedding_model"] = runtime.embedder.model_id
        return predictor

    def _require_topics(self) -> TopicModel:
        if self.topic_model is None:
            raise ModelNotTrainedError("no topic model loaded; run `paperrec train topics`")
        return self.topic_model

    def recommender(self) -> Recommender:
        """The Recommender over the loaded models. Built once (reading the TF-IDF vocabulary
        takes ~30 ms, as long as ranking one user) and again only when a model or the
        embedder is replaced."""
        if self.ranking_model is None:
            raise ModelNotTrainedError("no ranking model loaded; run `paperrec train ranker`")
        parts = (self.runtime.embedder, self.ranking_model, self.topic_model)
        cached = self._recommender
        if cached is None or any(a is not b for a, b in zip(cached[:3], parts, strict=True)):
            cached = (*parts, Recommender(*self._memoised(*parts)))
            self._recommender = cached
        return cached[3]

    def _memoised(self, embedder, ranking_model, topic_model) -> tuple:
        """With ``memo_rows`` set (the service sets it), parts that keep each paper's
        embedding, TF-IDF and topic rows in memory (`paperrec.serving.arrays`)."""
        if not self.memo_rows:
            return embedder, ranking_model, topic_model
        lexical = MemoLexical(ranking_model.lexical, self.memo_rows)
        return (
            MemoEmbedder(embedder, self.memo_rows, self.encode_lock),
            replace(ranking_model, lexical=lexical),
            MemoTopics(topic_model, self.memo_rows) if topic_model is not None else None,
        )

    # -- score ---------------------------------------------------------------------------
    def score(self, papers: Sequence[InputPaper]) -> list[dict]:
        """``{"id", "topics": {topic: p}, "labels": [...]}`` for each paper, in order."""
        model = self._require_topics()
        X = self.runtime.embedder.embed([p.paper for p in papers])
        return model.score_rows([p.id for p in papers], X)

    # -- rank ----------------------------------------------------------------------------
    def rank(
        self,
        liked: Sequence[InputPaper],
        candidates: Sequence[InputPaper],
        *,
        disliked: Sequence[InputPaper] = (),
        topics: Sequence[str] = (),
        k: int = 10,
    ) -> list[dict]:
        """Best ``k`` candidates, best first: ``{"id", "score", "rank", "reasons"}``."""
        if not candidates:
            raise InputError("no candidates to rank")
        # Caller ids are echoed back; internally papers are matched by position.
        by_key = {}
        keyed = []
        for position, item in enumerate(candidates):
            key = f"candidate:{position}"
            by_key[key] = item.id
            keyed.append(_with_id(item, key))
        ranked = self.recommender().rank(
            [p.paper for p in liked],
            keyed,
            disliked=[p.paper for p in disliked],
            topics=topics,
            k=k,
        )
        return [{**r.as_dict(), "id": by_key[r.id]} for r in ranked]

    # -- recommend -----------------------------------------------------------------------
    def recommend(
        self,
        user: str,
        *,
        k: int = 10,
        date: dt.date | None = None,
        days: int = DEFAULT_WINDOW_DAYS,
        mark_shown: bool = True,
    ) -> list[RankedPaper]:
        """Best ``k`` stored papers from the ``days`` up to ``date`` (default: the newest date
        in the store) that ``user`` has not been shown or rated yet."""
        store = self.runtime.store
        state = self.profiles.read(store, user)
        end = date or store.papers.latest_date()
        if end is None:
            raise InputError("the store holds no dated papers; ingest some (paperrec ingest)")
        start, end = window(end, None, days)
        seen = state.profile.seen_ids  # a set built per access: once, not once per candidate
        candidates = self._window(start, end).without(seen)
        if not candidates.papers:
            raise InputError(f"no new papers for {user} between {start} and {end}")
        ranked = self._rank(state.profile, state.papers, candidates, k)
        if mark_shown:
            store.users.mark_shown(user, [r.id for r in ranked])
        return ranked

    def _window(self, start: dt.date, end: dt.date) -> CandidateSet:
        """The stored papers dated ``start`` to ``end``, prepared for ranking. With
        ``memo_rows`` set (the service) they are kept until a paper of the window is
        written again (`PaperStore.window_stamp`): requests read one count, not the rows."""
        store, recommender = self.runtime.store, self.recommender()
        if not self.memo_rows:
            return recommender.prepare(store.papers.iter_papers(since=start, until=end))
        stamp = store.papers.window_stamp(start, end)
        kept = self._window_kept
        if kept is not None and kept[:3] == ((start, end), stamp, recommender):
            return kept[3]
        prepared = recommender.prepare(store.papers.iter_papers(since=start, until=end))
        written = dt.datetime.fromisoformat(stamp[1]) if stamp[1] else None
        if written is not None and written.tzinfo is None:
            written = written.replace(tzinfo=dt.UTC)
        if written is None or written < dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2):
            self._window_kept = ((start, end), stamp, recommender, prepared)
        return prepared

    def rank_profile(
        self, profile: UserProfile, candidates: Sequence[Paper] | CandidateSet, *, k: int = 10
    ) -> list[RankedPaper]:
        """Best ``k`` of ``candidates`` for a stored user's profile: liked papers with the time
        they were liked, disliked papers, chosen topics and votes on shown papers.

        ``candidates`` may be a `CandidateSet` (``self.recommender().prepare(papers)``) that
        many users share; papers the user has already seen are not filtered out here."""
        voted = [*profile.liked_ids, *profile.disliked, *profile.dismissed]
        return self._rank(profile, self.runtime.store.papers.current(voted), candidates, k)

    def _rank(
        self,
        profile: UserProfile,
        papers: Mapping[str, Paper],
        candidates: Sequence[Paper] | CandidateSet,
        k: int,
    ) -> list[RankedPaper]:
        """`rank_profile` with the stored papers the profile names (by id) at hand."""
        liked = [papers[i] for i in profile.liked_ids if i in papers]
        disliked = [papers[i] for i in profile.disliked if i in papers]
        dismissed = [papers[i] for i in profile.dismissed if i in papers]
        liked_at = dict(profile.liked)
        # Shown papers the user voted on: (paper, liked?) for per-user adaptation.
        rated = [
            (p, vote)
            for group, vote in ((liked, True), (disliked, False), (dismissed, False))
            for p in group
            if p.id in profile.shown
        ]
        return self.recommender().rank(
            liked,
            candidates,
            disliked=disliked,
            topics=profile.topics,
            liked_at=[liked_at.get(p.id) for p in liked],
            rated=rated,
            k=k,
        )


def _with_id(item: InputPaper, key: str):
    return replace(item.paper, id=key)
