"""Pseudo-users: training and evaluation queries for the ranker before real feedback exists.

A pseudo-user is a set of corpus papers one researcher would plausibly follow:
- ``phrase_users``: papers sharing a distinctive title phrase ("gaussian splatting"),
  the corpus analogue of a Hugging Face Papers search page;
- ``topic_users``: papers sharing a fine topic and an area in their weak labels
  ("continual-learning" within "computer-vision");
- ``page_users``: the papers of one seed page.
Some of a pseudo-user's papers form the profile, the rest are the relevant candidates,
hidden among random corpus papers. Nothing here reads gold labels.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paperrec.schema import Paper
from paperrec.topics.labeling.keywords import tokenize

_STOP = frozenset(
    "a an the of for in on with and to via from by at is are as we our using towards toward "
    "through into its their be can that this based new".split()
)


@dataclass(frozen=True)
class PseudoUser:
    name: str
    members: np.ndarray  # indices into the corpus


@dataclass(frozen=True)
class Query:
    """One ranking task: profile and disliked papers, candidates and their relevance (0/1).

    ``hidden_authors`` are names that author features must not see (the author whose own
    papers are the relevant ones, in the author-continuation protocol)."""

    user: str
    liked: np.ndarray
    disliked: np.ndarray
    candidates: np.ndarray
    relevance: np.ndarray
    hidden_authors: tuple[str, ...] = ()


def _title_phrases(title: str) -> set[str]:
    tokens = tokenize(title)
    phrases = set()
    for n in (2, 3):
        for i in range(len(tokens) - n + 1):
            gram = tokens[i : i + n]
            if gram[0] not in _STOP and gram[-1] not in _STOP:
                phrases.add(" ".join(gram))
    return phrases


def _drop_overlapping(users: list[PseudoUser], max_jaccard: float) -> list[PseudoUser]:
    kept: list[PseudoUser] = []
    kept_sets: list[set] = []
    for user in sorted(users, key=lambda u: -len(u.members)):
        members = set(user.members.tolist())
        if all(len(members & other) / len(members | other) < max_jaccard for other in kept_sets):
            kept.append(user)
            kept_sets.append(members)
    return sorted(kept, key=lambda u: u.name)


def phrase_users(
    papers: Sequence[Paper],
    candidates: np.ndarray,
    min_size: int = 30,
    max_size: int = 400,
    max_jaccard: float = 0.3,
) -> list[PseudoUser]:
    """Users from title phrases seen in ``min_size..max_size`` titles; members are the papers
    whose title or abstract contains the phrase. ``candidates`` limits the papers used."""
    counts = Counter(phrase for i in candidates for phrase in _title_phrases(papers[i].title))
    phrases = [p for p, c in counts.items() if min_size <= c <= max_size]
    texts = [" ".join(tokenize(papers[i].text)) for i in candidates]
    users = []
    for phrase in phrases:
        pattern = re.compile(r"\b" + re.escape(phrase) + r"\b")
        members = candidates[[bool(pattern.search(t)) for t in texts]]
        if min_size <= len(members) <= max_size:
            users.append(PseudoUser(f"phrase:{phrase}", members))
    return _drop_overlapping(users, max_jaccard)


def topic_users(
    labels: np.ndarray,
    topic_ids: Sequence[str],
    fine: Sequence[int],
    areas: Sequence[int],
    candidates: np.ndarray,
    min_size: int = 40,
    max_size: int = 400,
    max_jaccard: float = 0.3,
) -> list[PseudoUser]:
    """Users from weak labels (n_papers, n_topics): papers with fine topic f in area a."""
    allowed = np.zeros(len(labels), bool)
    allowed[candidates] = True
    users = []
    for f in fine:
        for a in areas:
            members = np.flatnonzero(
                labels[:, f].astype(bool) & labels[:, a].astype(bool) & allowed
            )
            if min_size <= len(members) <= max_size:
                users.append(PseudoUser(f"topic:{topic_ids[f]}&{topic_ids[a]}", members))
    return _drop_overlapping(users, max_jaccard)


def make_queries(
    users: Sequence[PseudoUser],
    background: np.ndarray,
    rng: np.random.Generator,
    *,
    profile_sizes: Sequence[int] = (3, 5, 10, 20),
    n_relevant: int = 40,
    n_negatives: int = 300,
    dislike_share: float = 0.3,
    repeats: int = 1,
) -> list[Query]:
    """Training queries. For a share of them another user's papers are disliked and some
    of that user's papers join the candidates as negatives, so dislike features matter."""
    queries = []
    for _ in range(repeats):
        for position, user in enumerate(users):
            size = int(rng.choice(profile_sizes))
            if len(user.members) <= size + 1:
                continue
            order = rng.permutation(user.members)
            liked, relevant = order[:size], order[size : size + n_relevant]
            members = set(user.members.tolist())
            drawn = rng.choice(background, min(n_negatives * 2, len(background)), replace=False)
            negatives = [i for i in drawn if i not in members]
            negatives = np.array(negatives[:n_negatives], dtype=int)
            disliked = np.zeros(0, dtype=int)
            if rng.random() < dislike_share and len(users) > 1:
                # another user, never this one
                other = users[(position + 1 + int(rng.integers(len(users) - 1))) % len(users)]
                others = np.array(
                    [i for i in rng.permutation(other.members) if i not in members], dtype=int
                )
                disliked, hard = others[:3], others[3:23]
                negatives = np.concatenate([negatives, hard])
            candidates = np.concatenate([relevant, negatives])
            relevance = np.r_[np.ones(len(relevant)), np.zeros(len(negatives))]
            queries.append(Query(user.name, liked, disliked, candidates, relevance))
    return queries


def near_dislike_queries(
    queries: Sequence[Query], X: np.ndarray, rng: np.random.Generator, share: float = 0.3
) -> list[Query]:
    """Queries in which the user dislikes one of their own relevant papers.

    For a ``share`` of the queries, a random relevant candidate leaves the candidates for
    the disliked papers, and the relevant candidate nearest to it (cosine over the rows of
    X, (n_papers, dim) unit vectors) becomes irrelevant. Without these, every disliked
    paper in training is far from the profile, and the ranker never learns that a paper
    close to a disliked one goes down even when it also looks like what the user likes.
    ``share`` 0 returns the queries as they are and draws nothing from ``rng``.
    """
    if share <= 0:
        return list(queries)
    out = []
    for query in queries:
        relevant = np.flatnonzero(query.relevance == 1)
        if len(relevant) < 3 or rng.random() >= share:
            out.append(query)
            continue
        dropped = int(rng.choice(relevant))
        keep = np.arange(len(query.candidates)) != dropped
        candidates, relevance = query.candidates[keep], query.relevance[keep].copy()
        sims = X[candidates] @ X[query.candidates[dropped]]
        sims[relevance == 0] = -np.inf
        relevance[int(np.argmax(sims))] = 0
        disliked = np.r_[query.disliked, query.candidates[dropped]].astype(int)
        out.append(Query(query.user, query.liked, disliked, candidates, relevance))
    return out
