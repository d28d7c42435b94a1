"""Fit the LambdaRank ranker on real interests: researchers' own next papers (the run
around it, with evaluation, logging and the registry, is `paperrec.train.ranker_run`).

Queries come from ``recommend.authors`` (author continuation with hard negatives: the
training half of the authors, split by name) and, as configured, from the synthetic
pseudo-users of ``recommend.pseudo_users`` (phrase and topic users, seed pages); features
from the same featurizer ranking uses at serve time, over corpus arrays computed once:
embeddings, TF-IDF rows, authors and topic probabilities of every paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from paperrec.recommend.authors import AuthorUser, NegativePool, continuation_queries
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.features import ProfileFeaturizer
from paperrec.recommend.lexical import LexicalEncoder
from paperrec.recommend.model import RankingModel
from paperrec.recommend.pseudo_users import (
    PseudoUser,
    Query,
    make_queries,
    near_dislike_queries,
    phrase_users,
    topic_users,
)
from paperrec.recommend.ranker import PaperRanker
from paperrec.schema import Paper


@dataclass
class RankerTrainingConfig:
    # Author-continuation queries (real interests, hard negatives): each training author
    # gives ``author_repeats`` queries, with profiles cut at different points.
    author_repeats: int = 3
    author_negatives: int = 100
    # Random background papers added to each author query beside the hard negatives: a
    # reader's day holds far-off papers too, and seed-page users rank against them.
    author_easy_negatives: int = 0
    # Grade relevance: own next paper 2, a co-author's paper 1, others 0 (else 1/0).
    author_graded: bool = True
    # Let the ranker see who wrote what (co-author features); off: content alone.
    use_authors: bool = True
    # Synthetic pseudo-users (phrase, topic and seed-page users) beside the authors:
    # 0 leaves them out, 1 uses each once per ``repeats``. Half of them (about 5 % of the
    # queries, all that carry dislikes) keep the ranker at least tfidf's equal on the
    # seed-page and pool-user protocols (authors alone: 0.855 and 0.509 nDCG@10 there,
    # against zotero's 0.891 and 0.838) and cost the author protocol nothing
    # (training/compare_rankers.py; docs/ranking.md).
    synthetic_share: float = 0.5
    repeats: int = 2
    profile_sizes: tuple[int, ...] = (3, 5, 10, 20)
    n_relevant: int = 40
    n_negatives: int = 300
    dislike_share: float = 0.3
    # Share of queries where the user dislikes one of their own papers and its nearest
    # relevant paper is demoted (pseudo_users.near_dislike_queries). Before the prior
    # carried dislikes, 0.3 made a disliked near copy of a top candidate drop in 97 % of
    # probes (25 % at 0) but cost seed-page nDCG@10 0.959 -> 0.952 and pool-user
    # 0.990 -> 0.969, so off. With the prior's dislike term it drops in 98 % at 0.
    near_dislike_share: float = 0.0
    shrinkage: float = 0.5
    ranker: dict = field(default_factory=dict)
    lexical: dict = field(default_factory=dict)
    random_state: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def split_users(
    users: Sequence[PseudoUser], test_share: float = 0.5
) -> tuple[list[PseudoUser], list[PseudoUser]]:
    """Deterministic split by a hash of the user name (stable across runs and machines)."""
    train, test = [], []
    for user in users:
        bucket = int(hashlib.sha256(user.name.encode()).hexdigest(), 16) % 1000 / 1000
        (test if bucket < test_share else train).append(user)
    return train, test


def corpus_users(
    corpus: Corpus,
    labels: np.ndarray | None,
    topic_ids: Sequence[str],
    fine: Sequence[int],
    areas: Sequence[int],
) -> list[PseudoUser]:
    users = phrase_users(corpus.papers, corpus.background)
    if labels is not None and len(fine) and len(areas):
        users += topic_users(labels, topic_ids, fine, areas, corpus.background)
    return users


def query_features(
    corpus: Corpus,
    featurizer: ProfileFeaturizer,
    queries: Sequence[Query],
    with_authors: bool = True,
):
    """Stacked features, relevance and group sizes for LambdaRank."""
    blocks = []
    for query in queries:
        blocks.append(
            featurizer.transform(
                corpus.profile(query.liked, query.disliked, query.hidden_authors, with_authors),
                corpus.candidates(query.candidates, with_authors),
            )
        )
    features = np.vstack(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
    relevance = np.concatenate([q.relevance for q in queries]) if queries else np.zeros(0)
    return features, relevance, [len(q.relevance) for q in queries]


def author_training_queries(
    corpus: Corpus,
    authors: Sequence[AuthorUser],
    config: RankerTrainingConfig,
    rng: np.random.Generator,
) -> list[Query]:
    """Author-continuation queries for training: each author ``author_repeats`` times,
    profiles cut after 15 % to 80 % of their papers (one-paper profiles included), hard
    negatives from the background."""
    pool = NegativePool(corpus.papers, corpus.background)
    queries = []
    for _ in range(config.author_repeats):
        share = float(rng.uniform(0.15, 0.8))
        queries += continuation_queries(
            corpus.papers,
            authors,
            pool,
            rng,
            n_negatives=config.author_negatives,
            profile_share=share,
            min_profile=1,
            graded=config.author_graded,
        )
    if config.author_easy_negatives:
        queries = [
            with_easy_negatives(q, corpus, config.author_easy_negatives, rng) for q in queries
        ]
    return queries


def with_easy_negatives(query: Query, corpus: Corpus, n: int, rng: np.random.Generator) -> Query:
    """``query`` with up to ``n`` random background papers added as negatives (none of its
    candidates or profile, none by its hidden authors)."""
    taken = set(query.candidates.tolist()) | set(query.liked.tolist())
    hidden = set(query.hidden_authors)
    size = min(3 * n, len(corpus.background))
    drawn = [
        int(i)
        for i in rng.choice(corpus.background, size=size, replace=False)
        if int(i) not in taken and not hidden.intersection(corpus.papers[int(i)].authors)
    ][:n]
    return replace(
        query,
        candidates=np.concatenate([query.candidates, np.array(drawn, dtype=int)]),
        relevance=np.concatenate([query.relevance, np.zeros(len(drawn))]),
    )


def fit_featurizer(corpus: Corpus, config: RankerTrainingConfig) -> ProfileFeaturizer:
    """The featurizer's corpus background, from the background papers."""
    return ProfileFeaturizer(config.shrinkage, random_state=config.random_state).fit(
        corpus.X[corpus.background], corpus.lexical[corpus.background]
    )


def fit_ranking_model(
    corpus: Corpus,
    users: Sequence[PseudoUser],
    config: RankerTrainingConfig,
    embedding_model_id: str,
    topic_ids: Sequence[str],
    featurizer: ProfileFeaturizer | None = None,
    lexical: LexicalEncoder | None = None,
    extra_queries: Sequence[Query] = (),
    authors: Sequence[AuthorUser] = (),
) -> RankingModel:
    """Queries from ``authors`` and (by ``config.synthetic_share``) from the synthetic
    ``users``, plus ``extra_queries`` (e.g. from real feedback), then a fitted
    RankingModel."""
    rng = np.random.default_rng(config.random_state)
    featurizer = featurizer or fit_featurizer(corpus, config)
    queries = author_training_queries(corpus, authors, config, rng) if authors else []
    share = config.synthetic_share if authors else 1.0  # without authors: synthetic only
    synthetic = [user for user in users if rng.random() < share]
    if synthetic:
        made = make_queries(
            synthetic,
            corpus.background,
            rng,
            profile_sizes=config.profile_sizes,
            n_relevant=config.n_relevant,
            n_negatives=config.n_negatives,
            dislike_share=config.dislike_share,
            repeats=config.repeats,
        )
        queries += near_dislike_queries(made, corpus.X, rng, config.near_dislike_share)
    queries += list(extra_queries)
    if not queries:
        raise ValueError("no training queries: no authors with enough papers and no pseudo-users")
    features, relevance, groups = query_features(corpus, featurizer, queries, config.use_authors)
    ranker = PaperRanker(random_state=config.random_state, **config.ranker).fit(
        features, relevance, groups
    )
    summary = {
        "n_authors": len(authors),
        "n_users": len(synthetic),
        "n_queries": len(queries),
        "n_feedback_queries": len(extra_queries),
        "n_rows": int(len(relevance)),
    }
    return RankingModel(featurizer, lexical, ranker, embedding_model_id, tuple(topic_ids), summary)


def fit_lexical(corpus_papers: Sequence[Paper], config: RankerTrainingConfig) -> LexicalEncoder:
    return LexicalEncoder(**config.lexical).fit(corpus_papers)
