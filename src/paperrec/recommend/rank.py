"""Ranking, written once: the CLI, the HTTP service and the digest all call `Recommender`.

Given liked papers (or only chosen topics: cold start), optional disliked papers and a set
of candidates, it embeds what is not cached, builds features, scores with the learned
ranker and returns the best ``k`` with reasons. Candidates that are themselves in the
profile are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

from paperrec.errors import InputError
from paperrec.papers.embed import Embedder
from paperrec.recommend.adapt import fit_user_adapter
from paperrec.recommend.corpus import LIKE_HALF_LIFE_DAYS, liked_authors, paper_ages
from paperrec.recommend.explain import liked_lexical_mean, reasons_for
from paperrec.recommend.features import CandidateArrays, ProfileArrays, recency_weights
from paperrec.recommend.model import RankingModel
from paperrec.schema import Paper
from paperrec.topics.model import TopicModel

BULK_IMPORT_DAYS = 1.0  # likes closer together than this were one import: use paper dates
ROWS_PER_RANKER_CALL = 100_000  # batch scoring: (profile, candidate) rows per LightGBM call


@cache
def _threadpools():
    """Controls the BLAS thread pool (found once, when first needed)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@dataclass(frozen=True)
class RankedPaper:
    id: str
    score: float
    rank: int
    reasons: list[dict]
    title: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "rank": self.rank, "reasons": self.reasons}


@dataclass
class CandidateSet:
    """Candidates prepared once and shared by every profile ranked against them."""

    papers: list[Paper]
    arrays: CandidateArrays

    def without(self, ids: Collection[str]) -> CandidateSet:
        """These candidates less those whose id is in ``ids``, their rows taken by position
        (a window prepared once, ranked for each user without the papers they have seen)."""
        keep = [i for i, paper in enumerate(self.papers) if paper.id not in ids]
        if len(keep) == len(self.papers):
            return self
        rows, arrays = np.asarray(keep, dtype=np.int64), self.arrays
        authors = tuple(arrays.authors[i] for i in keep) if arrays.authors else ()
        kept = CandidateArrays(arrays.X[rows], arrays.lexical[rows], arrays.topics[rows], authors)
        return CandidateSet([self.papers[i] for i in keep], kept)


def like_ages(liked: Sequence[Paper], liked_at: Sequence[dt.datetime | None] | None) -> np.ndarray:
    """Age of each like in days: from the time it was liked, or, when those times are
    unknown or all fall within one bulk import (a library loaded at once), from the papers'
    own dates."""
    if liked_at is not None and len(liked_at) == len(liked):
        times = [t for t in liked_at if t is not None]
        if len(times) == len(liked) and len(liked) > 0:
            spread = (max(times) - min(times)).total_seconds() / 86400
            if spread >= BULK_IMPORT_DAYS or len(liked) == 1:
                now = dt.datetime.now(dt.UTC)
                return np.array([(now - t).total_seconds() / 86400 for t in times])
    return paper_ages(liked)


class Recommender:
    """Ranks candidates for a profile with a RankingModel (and a TopicModel if given)."""

    def __init__(
        self, embedder: Embedder, ranking_model: RankingModel, topic_model: TopicModel | None = None
    ):
        self.embedder = embedder
        self.model = ranking_model
        # Topic features only when the topic model speaks the topics the ranker learned.
        usable = topic_model is not None and tuple(topic_model.topic_ids) == tuple(
            ranking_model.topic_ids
        )
        self.topic_model = topic_model if usable else None
        self.vocabulary = ranking_model.lexical.vectorizer_.get_feature_names_out()

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return self.topic_model.topic_ids if self.topic_model else ()

    def _topics(self, X: np.ndarray) -> np.ndarray:
        if self.topic_model is None or not len(X):
            return np.zeros((len(X), 0), dtype=np.float32)
        return self.topic_model.predict_proba(X).astype(np.float32)

    def prepare(self, candidates: Sequence[Paper]) -> CandidateSet:
        X = self.embedder.embed(candidates)
        arrays = CandidateArrays(
            X,
            self.model.lexical.transform(candidates),
            self._topics(X),
            tuple(p.authors for p in candidates),
        )
        return CandidateSet(list(candidates), arrays)

    def profile(
        self,
        liked: Sequence[Paper],
        disliked: Sequence[Paper] = (),
        topics: Sequence[str] = (),
        liked_at: Sequence[dt.datetime | None] | None = None,
    ) -> tuple[ProfileArrays, list[Paper], np.ndarray]:
        """Profile arrays, the papers standing for the liked side, and their vectors.

        With no liked papers, the chosen topics' descriptions stand in for them (cold start).
        """
        liked = list(liked)
        if not liked:
            liked = self._topic_papers(topics)
        liked_X = self.embedder.embed(liked)
        disliked_X = self.embedder.embed(list(disliked))
        ages = like_ages(liked, liked_at)
        chosen = np.zeros(len(self.topic_ids), dtype=np.float32)
        for topic in topics:
            if topic in self.topic_ids:
                chosen[self.topic_ids.index(topic)] = 1
        arrays = ProfileArrays(
            liked=liked_X,
            liked_weights=recency_weights(ages, LIKE_HALF_LIFE_DAYS),
            disliked=disliked_X,
            liked_topics=self._topics(liked_X),
            liked_lexical=self.model.lexical.transform(liked),
            disliked_lexical=self.model.lexical.transform(list(disliked)),
            chosen_topics=chosen,
            liked_authors=liked_authors(liked),
        )
        return arrays, liked, liked_X

    def _topic_papers(self, topics: Sequence[str]) -> list[Paper]:
        if not topics:
            raise InputError("a profile needs at least one liked paper or one chosen topic")
        if self.topic_model is None:
            raise InputError(
                "ranking from topics alone needs a trained topic model (paperrec train topics)"
            )
        unknown = [t for t in topics if t not in self.topic_ids]
        if unknown:
            raise InputError(
                f"unknown topic(s) {', '.join(unknown)}; available: {', '.join(self.topic_ids)}"
            )
        taxonomy = self.topic_model.taxonomy
        return [
            Paper.create(
                taxonomy[t].name,
                f"{taxonomy[t].description} Keywords: {', '.join(taxonomy[t].keywords)}.",
                id=f"topic:{t}",
            )
            for t in topics
        ]

    def rank(
        self,
        liked: Sequence[Paper],
        candidates: Sequence[Paper] | CandidateSet,
        *,
        disliked: Sequence[Paper] = (),
        topics: Sequence[str] = (),
        liked_at: Sequence[dt.datetime | None] | None = None,
        rated: Sequence[tuple[Paper, bool]] = (),
        k: int = 10,
    ) -> list[RankedPaper]:
        """The best ``k`` candidates for this profile, best first, with reasons.

        ``rated`` are papers shown to the user with their vote (liked or not); with enough
        of them the order is adapted to this user (``adapt.py``).
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        # BLAS on one thread, as the service and the batch path run it: the products are
        # small, and one thread count gives every caller the same scores to the last digit.
        with _threadpools().limit(limits=1, user_api="blas"):
            return self._ranked(liked, candidates, disliked, topics, liked_at, rated, k)

    def _ranked(self, liked, candidates, disliked, topics, liked_at, rated, k) -> list[RankedPaper]:
        """`rank` with its arguments checked."""
        prepared = candidates if isinstance(candidates, CandidateSet) else self.prepare(candidates)
        if not prepared.papers:
            raise InputError("no candidates to rank")
        profile, liked_papers, liked_X = self.profile(liked, disliked, topics, liked_at)
        scores = self.model.score(profile, prepared.arrays)
        if rated:
            scores = self._adapt(scores, prepared, liked, disliked, topics, rated)
        own = {p.id for p in list(liked) + list(disliked)} | {
            p.content_hash for p in list(liked) + list(disliked)
        }
        order = [
            i
            for i in np.argsort(-scores, kind="stable")
            if prepared.papers[i].id not in own and prepared.papers[i].content_hash not in own
        ]
        liked_topic_mean = profile.liked_topics.mean(axis=0) if profile.liked_topics.size else None
        lexical_mean = liked_lexical_mean(profile.liked_lexical)
        results = []
        for rank, i in enumerate(order[:k], start=1):
            reasons = reasons_for(
                int(i),
                candidate_X=prepared.arrays.X,
                candidate_lexical=prepared.arrays.lexical,
                candidate_topics=prepared.arrays.topics,
                liked=liked_papers,
                liked_X=liked_X,
                liked_lexical_mean=lexical_mean,
                disliked=list(disliked),
                disliked_X=profile.disliked,
                topic_ids=self.topic_ids,
                chosen_topics=topics,
                liked_topic_mean=liked_topic_mean,
                vocabulary=self.vocabulary,
                candidate_authors=prepared.papers[i].authors,
                liked_authors=profile.liked_authors,
            )
            paper = prepared.papers[i]
            results.append(
                RankedPaper(paper.id, round(float(scores[i]), 6), rank, reasons, paper.title)
            )
        return results

    def _adapt(self, scores, prepared: CandidateSet, liked, disliked, topics, rated) -> np.ndarray:
        """Blend in the user's own votes. Features for the adapter come from the profile
        without the rated papers, so a rated paper is not trivially similar to itself."""
        rated_ids = {paper.id for paper, _ in rated}
        base_liked = [p for p in liked if p.id not in rated_ids]
        base_disliked = [p for p in disliked if p.id not in rated_ids]
        if not base_liked and not topics:
            return scores
        base, _, _ = self.profile(base_liked, base_disliked, topics)
        rated_set = self.prepare([paper for paper, _ in rated])
        adapter = fit_user_adapter(
            self.model.featurizer.transform(base, rated_set.arrays),
            [vote for _, vote in rated],
        )
        if adapter is None:
            return scores
        return adapter.adjust(scores, self.model.featurizer.transform(base, prepared.arrays))

    def score_candidates(self, profile: ProfileArrays, prepared: CandidateSet) -> np.ndarray:
        """Raw ranker scores (n_candidates,) for one profile: the batch path, no reasons."""
        return self.score_profiles([profile], prepared)[0]

    def score_profiles(
        self, profiles: Sequence[ProfileArrays], prepared: CandidateSet
    ) -> np.ndarray:
        """Raw ranker scores (n_profiles, n_candidates), for many users at once.

        Features are built a block of profiles at a time with BLAS on one thread (the
        products are small; more threads only wait for each other), while a second thread
        has the ranker score the previous block in one call (LightGBM releases the GIL), so
        two cores both work.
        """
        n = len(prepared.papers)
        scores = np.empty((len(profiles), n))
        per_call = max(1, ROWS_PER_RANKER_CALL // max(n, 1))
        featurizer, model = self.model.featurizer, self.model

        def features(rows: range) -> np.ndarray:
            arrays = prepared.arrays
            with _threadpools().limit(limits=1, user_api="blas"):
                return featurizer.transform_many([profiles[i] for i in rows], arrays)

        def predict(rows: range, X: np.ndarray) -> None:
            scores[rows.start : rows.stop] = model.score_features(X).reshape(len(rows), n)

        with ThreadPoolExecutor(max_workers=1) as ranker_thread:
            pending = None
            for start in range(0, len(profiles), per_call):
                rows = range(start, min(start + per_call, len(profiles)))
                X = features(rows)
                if pending is not None:
                    pending.result()
                pending = ranker_thread.submit(predict, rows, X)
            if pending is not None:
                pending.result()
        return scores
