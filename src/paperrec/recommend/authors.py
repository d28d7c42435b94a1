"""Real interests from authorship: researchers as users, and their next papers as relevance.

An author's papers are a real research interest, unlike pseudo-users assembled from
topics or phrases: what they wrote before is their library, what they wrote next is what
they would have wanted to read. This module turns the corpus's author lists into such
users and into ranking queries:

- ``author_users``: one user per author name with enough papers. Names are noisy (common
  names merge different people), so a name's papers are split into people by their
  co-author graph: two papers of the name belong to the same person when they share
  another author. Parts too small to split in time are dropped, and so are names spread
  over too many papers to be one person.
- ``continuation_queries``: the author-continuation protocol. Profile = the user's papers
  before a cut date, relevant = their papers from then on, negatives = *hard* negatives:
  papers from the same primary categories in the same weeks, by other authors. A real
  reader chooses among papers that all look relevant; random negatives would reward
  "same area" instead.

Each query hides its author's own name (``Query.hidden_authors``), so author features
only see co-authors, which a reader really does follow; the author's own name on every
relevant paper would give the answer away.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paperrec.recommend.pseudo_users import Query
from paperrec.schema import Paper

MIN_PAPERS = 5  # papers a person needs: at least 2 before the cut and 2 after
MAX_PAPERS = 60  # more than this under one name in the corpus is several people
WINDOW_DAYS = 21  # hard negatives come from the weeks of the relevant papers, +- this


@dataclass(frozen=True)
class AuthorUser:
    """One researcher: ``name`` and ``members``, corpus indices sorted by date."""

    name: str
    members: np.ndarray


def _people(name: str, indices: list[int], papers: Sequence[Paper]) -> list[list[int]]:
    """Split one name's papers into people: connected components of 'shares a co-author'."""
    parent = list(range(len(indices)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[str, int] = {}
    for position, index in enumerate(indices):
        for coauthor in papers[index].authors:
            if coauthor == name:
                continue
            if coauthor in first_seen:
                parent[find(position)] = find(first_seen[coauthor])
            else:
                first_seen[coauthor] = position
    groups: dict[int, list[int]] = defaultdict(list)
    for position, index in enumerate(indices):
        groups[find(position)].append(index)
    return list(groups.values())


def author_users(
    papers: Sequence[Paper],
    allowed: np.ndarray | None = None,
    min_papers: int = MIN_PAPERS,
    max_papers: int = MAX_PAPERS,
) -> list[AuthorUser]:
    """Researchers with at least ``min_papers`` dated papers among ``allowed`` indices.

    A name with more than ``max_papers`` papers is left out whole; a name whose papers
    fall into several co-author components yields one user per large-enough component
    (``"Name#2"`` for the second)."""
    indices = np.arange(len(papers)) if allowed is None else np.asarray(allowed)
    by_name: dict[str, list[int]] = defaultdict(list)
    for i in indices:
        if papers[i].date is None:
            continue
        for name in set(papers[i].authors):
            by_name[name].append(int(i))
    users = []
    for name, members in sorted(by_name.items()):
        if not min_papers <= len(members) <= max_papers:
            continue
        people = sorted(_people(name, members, papers), key=len, reverse=True)
        for n, person in enumerate(p for p in people if len(p) >= min_papers):
            ordered = sorted(person, key=lambda i: (papers[i].date, papers[i].id))
            users.append(AuthorUser(name if n == 0 else f"{name}#{n + 1}", np.array(ordered)))
    return users


def author_bucket(user: AuthorUser | str) -> float:
    """A stable number in [0, 1) from the author's name (``#n`` suffix ignored)."""
    name = user if isinstance(user, str) else user.name
    digest = hashlib.sha256(name.split("#")[0].encode()).hexdigest()
    return int(digest[:8], 16) / 0x100000000


def split_authors(
    users: Sequence[AuthorUser], test_share: float = 0.3, min_papers: int = MIN_PAPERS
) -> tuple[list[AuthorUser], list[AuthorUser]]:
    """(train, test) by a hash of the name: held out by author, never by paper.

    Papers a training user shares with a test user are taken out of the training user
    (who is dropped when fewer than ``min_papers`` remain), so no paper is on both sides."""
    test = [u for u in users if author_bucket(u) < test_share]
    test_papers = {int(i) for u in test for i in u.members}
    train = []
    for user in users:
        if author_bucket(user) < test_share:
            continue
        kept = np.array([i for i in user.members if int(i) not in test_papers], dtype=int)
        if len(kept) >= min_papers:
            train.append(AuthorUser(user.name, kept))
    return train, test


class NegativePool:
    """Hard-negative lookup: papers by primary category, sorted by date."""

    def __init__(self, papers: Sequence[Paper], allowed: np.ndarray):
        by_category: dict[str, list[int]] = defaultdict(list)
        for i in allowed:
            paper = papers[i]
            if paper.date is not None and paper.categories:
                by_category[paper.categories[0]].append(int(i))
        self.papers = papers
        self.by_category = {
            c: np.array(sorted(ix, key=lambda i: papers[i].date)) for c, ix in by_category.items()
        }
        self.ordinals = {
            c: np.array([papers[i].date.toordinal() for i in ix])
            for c, ix in self.by_category.items()
        }

    def draw(
        self,
        relevant: np.ndarray,
        exclude: set[int],
        hidden: str,
        n: int,
        rng: np.random.Generator,
        window_days: int = WINDOW_DAYS,
    ) -> np.ndarray:
        """Up to ``n`` papers sharing a primary category with ``relevant`` and dated within
        ``window_days`` of them, not in ``exclude`` and not written by ``hidden``."""
        dates = [self.papers[i].date.toordinal() for i in relevant]
        low, high = min(dates) - window_days, max(dates) + window_days
        categories = {self.papers[i].categories[0] for i in relevant if self.papers[i].categories}
        found = []
        for category in sorted(categories):
            if category not in self.by_category:
                continue
            ordinals = self.ordinals[category]
            ix = self.by_category[category][
                np.searchsorted(ordinals, low) : np.searchsorted(ordinals, high, side="right")
            ]
            found.extend(int(i) for i in ix)
        found = [
            i
            for i in dict.fromkeys(found)
            if i not in exclude and hidden not in self.papers[i].authors
        ]
        if len(found) <= n:
            return np.array(found, dtype=int)
        return rng.choice(np.array(found, dtype=int), n, replace=False)


def continuation_queries(
    papers: Sequence[Paper],
    users: Sequence[AuthorUser],
    negatives: NegativePool,
    rng: np.random.Generator,
    *,
    n_negatives: int = 200,
    profile_share: float = 0.6,
    max_profile: int = 20,
    max_relevant: int = 20,
    min_negatives: int = 10,
    min_profile: int = 2,
    graded: bool = False,
) -> list[Query]:
    """One query per user: the first ``profile_share`` of their papers (at least
    ``min_profile``; of those, the newest ``max_profile``) form the profile, the rest (at
    least 2, at most ``max_relevant``) are relevant among hard negatives.

    Queries whose categories and weeks offer fewer than ``min_negatives`` hard
    negatives are skipped. ``graded`` grades relevance as the issue of real readers has
    it: the user's own next paper 2, a paper by one of their co-authors (on a profile
    paper) 1, anything else 0; otherwise own papers 1, everything else 0."""
    queries = []
    for user in users:
        members = user.members
        cut = min(max(min_profile, int(round(len(members) * profile_share))), len(members) - 2)
        liked, relevant = members[:cut][-max_profile:], members[cut:][:max_relevant]
        hidden = user.name.split("#")[0]
        drawn = negatives.draw(relevant, set(members.tolist()), hidden, n_negatives, rng)
        if len(drawn) < min_negatives:
            continue
        others = np.zeros(len(drawn))
        if graded:
            coauthors = {a for i in liked for a in papers[i].authors} - {hidden}
            others = np.array([bool(coauthors.intersection(papers[i].authors)) for i in drawn])
        queries.append(
            Query(
                f"author:{user.name}",
                liked[::-1],  # newest first, as the baselines expect
                np.zeros(0, dtype=int),
                np.concatenate([relevant, drawn]).astype(int),
                np.r_[np.full(len(relevant), 2.0 if graded else 1.0), others.astype(float)],
                hidden_authors=(hidden,),
            )
        )
    return queries
