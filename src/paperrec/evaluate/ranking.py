"""Ranking evaluation: protocols, and the learned ranker beside its baselines.

Protocols (each query: a profile, candidates, 0/1 relevance):
- ``seed_page_queries``: each seed page is one user; ``profile_size`` of its papers form
  the profile, its other papers are relevant, hidden among ``n_distractors`` corpus
  papers; repeated over ``draws`` random profiles. Candidate dates are hidden (seed pages
  carry none, so dates would give the answer away).
- ``pool_user_queries``: held-out pseudo-users from the corpus (phrase and topic users
  whose queries the ranker never trained on), same shape.
Metrics: nDCG@10, recall@50, MRR; mean and standard deviation over queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from paperrec.recommend import baselines
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.features import neighbour_radius
from paperrec.recommend.metrics import all_metrics
from paperrec.recommend.model import RankingModel
from paperrec.recommend.pseudo_users import PseudoUser, Query

METHODS = ("ranker", "arxiv-sanity-lite", "zotero-arxiv-daily", "centroid")


def _distractors(corpus: Corpus, exclude: set[int], n: int, rng: np.random.Generator) -> np.ndarray:
    pool = np.array([i for i in corpus.background if i not in exclude])
    return rng.choice(pool, min(n, len(pool)), replace=False)


def seed_page_queries(
    corpus: Corpus,
    pages: Sequence[PseudoUser],
    draws: int = 5,
    profile_size: int = 10,
    n_distractors: int = 2000,
    seed: int = 1,
) -> list[Query]:
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(draws):
        for page in pages:
            order = rng.permutation(page.members)
            relevant = order[profile_size:]
            distractors = _distractors(corpus, set(page.members.tolist()), n_distractors, rng)
            queries.append(
                Query(
                    page.name,
                    order[:profile_size],
                    np.zeros(0, int),
                    np.concatenate([relevant, distractors]),
                    np.r_[np.ones(len(relevant)), np.zeros(len(distractors))],
                )
            )
    return queries


def pool_user_queries(
    corpus: Corpus,
    users: Sequence[PseudoUser],
    profile_size: int = 10,
    n_distractors: int = 2000,
    seed: int = 2,
) -> list[Query]:
    rng = np.random.default_rng(seed)
    queries = []
    for user in users:
        order = rng.permutation(user.members)
        relevant = order[profile_size:]
        distractors = _distractors(corpus, set(user.members.tolist()), n_distractors, rng)
        queries.append(
            Query(
                user.name,
                order[:profile_size],
                np.zeros(0, int),
                np.concatenate([relevant, distractors]),
                np.r_[np.ones(len(relevant)), np.zeros(len(distractors))],
            )
        )
    return queries


def method_scores(
    query: Query,
    corpus: Corpus,
    model: RankingModel,
    with_dates: bool,
    methods: Sequence[str] = METHODS,
) -> dict[str, np.ndarray]:
    """Scores of each of ``methods`` for one query (liked papers in profile order: newest first)."""
    liked_X, cand_X = corpus.X[query.liked], corpus.X[query.candidates]
    scorers = {
        "ranker": lambda: _ranker_scores(query, corpus, model, with_dates),
        "arxiv-sanity-lite": lambda: baselines.asl_svm(
            [corpus.papers[i].text for i in query.liked],
            [corpus.papers[i].text for i in query.candidates],
        ),
        "zotero-arxiv-daily": lambda: baselines.zotero(liked_X, cand_X),
        "centroid": lambda: baselines.centroid(liked_X, cand_X),
    }
    return {method: scorers[method]() for method in methods}


def _ranker_scores(
    query: Query, corpus: Corpus, model: RankingModel, with_dates: bool
) -> np.ndarray:
    arrays = corpus.candidates(query.candidates, with_dates)
    features = model.featurizer.transform(
        corpus.profile(query.liked, query.disliked), arrays, neighbour_radius(arrays.X)
    )
    return model.ranker.predict(features)


def evaluate_queries(
    queries: Sequence[Query],
    corpus: Corpus,
    model_for: Callable[[Query], RankingModel],
    *,
    with_dates: bool = True,
    methods: Sequence[str] = METHODS,
) -> dict:
    """``{method: {metric: {"mean", "std"}}}`` plus ``n_queries`` and per-user nDCG@10.

    ``methods`` (default: the ranker and every baseline) limits what is scored, e.g. to
    ``("ranker",)`` when the baselines are already known for these queries."""
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    per_user: dict[str, dict[str, list[float]]] = {}
    for query in queries:
        for method, scores in method_scores(
            query, corpus, model_for(query), with_dates, methods
        ).items():
            metrics = all_metrics(query.relevance, scores)
            rows[method].append(metrics)
            per_user.setdefault(query.user, {}).setdefault(method, []).append(metrics["ndcg@10"])
    summary = {
        method: {
            metric: {
                "mean": float(np.mean([r[metric] for r in results])),
                "std": float(np.std([r[metric] for r in results])),
            }
            for metric in ("ndcg@10", "recall@50", "mrr")
        }
        for method, results in rows.items()
        if results
    }
    return {
        "n_queries": len(queries),
        "methods": summary,
        "per_user_ndcg@10": {
            u: {m: float(np.mean(v)) for m, v in ms.items()} for u, ms in per_user.items()
        },
    }


def relative_gain(result: dict, metric: str = "ndcg@10") -> float:
    """Ranker over the best baseline, relative (0.1 = 10 % better)."""
    methods = result["methods"]
    best = max(methods[m][metric]["mean"] for m in methods if m != "ranker")
    return methods["ranker"][metric]["mean"] / best - 1 if best > 0 else float("inf")
