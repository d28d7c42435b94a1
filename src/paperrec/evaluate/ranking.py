"""Ranking evaluation: protocols, and the learned ranker beside its baselines.

Protocols (each query: a profile, candidates, 0/1 relevance):
- ``seed_page_queries``: each seed page is one user; ``profile_size`` of its papers form
  the profile, its other papers are relevant, hidden among ``n_distractors`` corpus
  papers; repeated over ``draws`` random profiles. Candidate dates are hidden (seed pages
  carry none, so dates would give the answer away).
- ``pool_user_queries``: held-out pseudo-users from the corpus (phrase and topic users
  whose queries the ranker never trained on), same shape.
- ``author_queries``: the author-continuation protocol (``recommend.authors``): held-out
  researchers (split by author, never by paper), profile = their papers before a date,
  relevant = their papers after it, among hard negatives from the same primary
  categories and weeks. Relevance from real behaviour: the protocol nobody tunes against.
Metrics: nDCG@10, recall@50, MRR, pairwise accuracy; mean, standard deviation and a 95 %
bootstrap interval over queries, and each method's ratio to the best baseline with a
paired bootstrap interval.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from paperrec.recommend import baselines
from paperrec.recommend.authors import AuthorUser, NegativePool, continuation_queries
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.metrics import METRICS, all_metrics, mean_interval, ratio_interval
from paperrec.recommend.model import RankingModel
from paperrec.recommend.pseudo_users import PseudoUser, Query

BASELINES = (
    "arxiv-sanity-lite",
    "tfidf",
    "zotero-arxiv-daily",
    "centroid",
    "max-similarity",
)
METHODS = ("ranker", *BASELINES)
TEXT_BASELINES = {"arxiv-sanity-lite", "tfidf"}  # score from the papers' TF-IDF
AUTHOR_NEGATIVES = 200  # hard negatives per author-continuation query


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


def author_queries(
    corpus: Corpus, users: Sequence[AuthorUser], seed: int = 3, n_negatives: int = AUTHOR_NEGATIVES
) -> list[Query]:
    """Author-continuation queries for ``users`` (held out from training), hard negatives
    drawn from the corpus background."""
    pool = NegativePool(corpus.papers, corpus.background)
    rng = np.random.default_rng(seed)
    return continuation_queries(corpus.papers, users, pool, rng, n_negatives=n_negatives)


def one_paper_queries(queries: Sequence[Query]) -> list[Query]:
    """The same queries with only the newest profile paper: "papers like this one"."""
    return [replace(q, liked=q.liked[:1]) for q in queries]


def method_scores(
    query: Query,
    corpus: Corpus,
    model: RankingModel,
    methods: Sequence[str] = METHODS,
    texts: CorpusTexts | None = None,
) -> dict[str, np.ndarray]:
    """Scores of each of ``methods`` for one query (liked papers in profile order: newest
    first). ``texts``: the TF-IDF of these papers' texts, when the caller has one."""
    liked_X, cand_X = corpus.X[query.liked], corpus.X[query.candidates]

    @functools.cache
    def asl_features():  # fitted once per query, shared by the two text baselines
        texts_of = texts or CorpusTexts(corpus, [query])
        return texts_of.features(np.r_[query.liked, query.candidates])

    n_liked = len(query.liked)
    scorers = {
        "ranker": lambda: model.score(
            corpus.profile(query.liked, query.disliked, query.hidden_authors),
            corpus.candidates(query.candidates),
        ),
        "arxiv-sanity-lite": lambda: baselines.asl_svm_scores(asl_features(), n_liked),
        "tfidf": lambda: baselines.tfidf_scores(asl_features(), n_liked),
        "zotero-arxiv-daily": lambda: baselines.zotero(liked_X, cand_X),
        "centroid": lambda: baselines.centroid(liked_X, cand_X),
        "max-similarity": lambda: baselines.max_similarity(liked_X, cand_X),
    }
    return {method: scorers[method]() for method in methods}


class CorpusTexts:
    """arxiv-sanity-lite's TF-IDF (`baselines.AslTfidf`) over the corpus papers that
    ``queries`` use, each tokenized once; ``features`` takes corpus indices."""

    def __init__(self, corpus: Corpus, queries: Sequence[Query]):
        used = [np.r_[q.liked, q.candidates] for q in queries]
        self.indices = np.unique(np.concatenate(used)).astype(np.intp)
        self.tfidf = baselines.AslTfidf([corpus.papers[i].text for i in self.indices])

    def features(self, indices: np.ndarray):
        return self.tfidf.features(np.searchsorted(self.indices, indices))


def evaluate_queries(
    queries: Sequence[Query],
    corpus: Corpus,
    model_for: Callable[[Query], RankingModel],
    *,
    methods: Sequence[str] = METHODS,
) -> dict:
    """``{method: {metric: {"mean", "std", "ci95"}}}``, each method's ratio to the best
    baseline per metric (``vs_best_baseline``), ``n_queries`` and per-user nDCG@10.

    ``methods`` (default: the ranker and every baseline) limits what is scored, e.g. to
    ``("ranker",)`` when the baselines are already known for these queries."""
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    per_user: dict[str, dict[str, list[float]]] = {}
    texts = CorpusTexts(corpus, queries) if TEXT_BASELINES & set(methods) and queries else None
    for query in queries:
        scored = method_scores(query, corpus, model_for(query), methods, texts)
        for method, scores in scored.items():
            metrics = all_metrics(query.relevance, scores)
            rows[method].append(metrics)
            per_user.setdefault(query.user, {}).setdefault(method, []).append(metrics["ndcg@10"])
    values = {
        method: {metric: [r[metric] for r in results] for metric in METRICS}
        for method, results in rows.items()
        if results
    }
    summary = {
        method: {
            metric: {
                "mean": float(np.mean(v)),
                "std": float(np.std(v)),
                "ci95": list(mean_interval(v)),
            }
            for metric, v in by_metric.items()
        }
        for method, by_metric in values.items()
    }
    return {
        "n_queries": len(queries),
        "methods": summary,
        "vs_best_baseline": _versus_best(values),
        "per_user_ndcg@10": {
            u: {m: float(np.mean(v)) for m, v in ms.items()} for u, ms in per_user.items()
        },
    }


def _versus_best(values: dict[str, dict[str, list[float]]]) -> dict:
    """For every non-baseline method and metric: the best baseline by mean, and the ratio
    to it with a paired 95 % bootstrap interval."""
    out: dict = {}
    present = [m for m in BASELINES if m in values]
    if not present:
        return out
    for method in values:
        if method in BASELINES:
            continue
        for metric in METRICS:
            best = max(present, key=lambda b: np.mean(values[b][metric]))
            ratio, low, high = ratio_interval(values[method][metric], values[best][metric])
            out.setdefault(method, {})[metric] = {
                "best_baseline": best,
                "ratio": ratio,
                "ci95": [low, high],
            }
    return out


def relative_gain(result: dict, metric: str = "ndcg@10") -> float:
    """Ranker over the best baseline, relative (0.1 = 10 % better)."""
    methods = result["methods"]
    best = max(methods[m][metric]["mean"] for m in methods if m != "ranker")
    return methods["ranker"][metric]["mean"] / best - 1 if best > 0 else float("inf")
