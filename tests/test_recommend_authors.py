"""Author users and the author-continuation protocol on a small hand-made corpus."""

from __future__ import annotations

import datetime as dt

import numpy as np

from paperrec.recommend.authors import (
    AuthorUser,
    NegativePool,
    author_bucket,
    author_users,
    continuation_queries,
    split_authors,
)
from paperrec.schema import Paper

DAY = dt.date(2026, 1, 1)


def paper(n: int, authors: tuple[str, ...], days: int, category: str = "cs.LG") -> Paper:
    return Paper(
        id=f"2601.{n:05d}",
        title=f"Paper {n}",
        abstract=f"Abstract {n}",
        categories=(category,),
        date=DAY + dt.timedelta(days=days),
        authors=authors,
    )


def corpus() -> list[Paper]:
    papers = []
    # "Ann Lee" is two people: one writes with Bob (papers 0-5), one with Cat (6-10)
    for i in range(6):
        papers.append(paper(len(papers), ("Ann Lee", "Bob"), days=10 * i))
    for i in range(5):
        papers.append(paper(len(papers), ("Cat", "Ann Lee"), days=10 * i + 1, category="cs.CV"))
    # a name on too few papers, and others' papers in the same weeks and categories
    papers.append(paper(len(papers), ("Dan",), days=3))
    for i in range(40):
        papers.append(
            paper(len(papers), (f"Other {i}",), days=i, category=("cs.LG", "cs.CV")[i % 2])
        )
    papers.append(paper(len(papers), ("Eve",), days=20, category="math.AG"))
    return papers


def test_a_name_is_split_into_people_by_their_coauthors():
    users = {u.name: u for u in author_users(corpus())}
    assert set(users) == {"Ann Lee", "Ann Lee#2", "Bob", "Cat"}
    assert users["Ann Lee"].members.tolist() == [0, 1, 2, 3, 4, 5]  # the larger part first
    assert users["Ann Lee#2"].members.tolist() == [6, 7, 8, 9, 10]
    assert users["Bob"].members.tolist() == [0, 1, 2, 3, 4, 5]  # sorted by date


def test_names_on_too_many_papers_are_left_out():
    # "Ann Lee" has 11 papers under one name: left out whole, both people
    assert {u.name for u in author_users(corpus(), max_papers=6)} == {"Bob", "Cat"}
    assert author_users(corpus(), min_papers=7) == []


def test_split_is_by_author_name_and_no_paper_is_on_both_sides():
    users = author_users(corpus())
    train, test = split_authors(users, test_share=0.5)
    test_papers = {int(i) for u in test for i in u.members}
    assert not test_papers & {int(i) for u in train for i in u.members}
    # the name decides, the same for both people of one name
    assert author_bucket("Ann Lee") == author_bucket(AuthorUser("Ann Lee#2", np.zeros(0)))
    assert {u.name for u in test} == {u.name for u in users if author_bucket(u) < 0.5}


def test_continuation_query_profile_before_relevant_after_among_hard_negatives():
    papers = corpus()
    user = next(u for u in author_users(papers) if u.name == "Ann Lee")
    pool = NegativePool(papers, np.arange(len(papers)))
    (query,) = continuation_queries(
        papers, [user], pool, np.random.default_rng(0), n_negatives=100, profile_share=0.5
    )
    assert query.user == "author:Ann Lee" and query.hidden_authors == ("Ann Lee",)
    assert query.liked.tolist() == [2, 1, 0]  # the first half, newest first
    relevant = query.candidates[query.relevance == 1].tolist()
    negatives = query.candidates[query.relevance == 0].tolist()
    assert relevant == [3, 4, 5]
    last = max(papers[i].date for i in relevant)
    for i in negatives:
        # same primary category, within the window of the relevant papers, by someone else
        assert papers[i].categories[0] == "cs.LG"
        assert papers[3].date - dt.timedelta(days=21) <= papers[i].date
        assert papers[i].date <= last + dt.timedelta(days=21)
        assert "Ann Lee" not in papers[i].authors
    # every cs.LG paper of others from day 30 - 21 on: even days 10 to 38
    assert sorted((papers[i].date - DAY).days for i in negatives) == list(range(10, 39, 2))


def test_queries_with_too_few_hard_negatives_are_skipped():
    papers = corpus()
    user = next(u for u in author_users(papers) if u.name == "Ann Lee")
    pool = NegativePool(papers, np.arange(len(papers)))
    rng = np.random.default_rng(0)
    assert continuation_queries(papers, [user], pool, rng, min_negatives=21) == []


def test_one_paper_profiles_when_asked():
    papers = corpus()
    user = next(u for u in author_users(papers) if u.name == "Ann Lee")
    pool = NegativePool(papers, np.arange(len(papers)))
    (query,) = continuation_queries(
        papers, [user], pool, np.random.default_rng(0), profile_share=0.0, min_profile=1
    )
    assert query.liked.tolist() == [0]
    assert (query.relevance == 1).sum() == 5


def test_graded_relevance_own_papers_over_coauthors_papers_over_strangers():
    papers = corpus()
    # Bob writes a paper of his own in the weeks of Ann's next papers
    papers.append(paper(len(papers), ("Bob", "Zoe"), days=35))
    user = next(u for u in author_users(papers) if u.name == "Ann Lee")
    pool = NegativePool(papers, np.arange(len(papers)))
    (query,) = continuation_queries(
        papers, [user], pool, np.random.default_rng(0), profile_share=0.5, graded=True
    )
    grades = dict(zip(query.candidates.tolist(), query.relevance.tolist(), strict=True))
    assert [grades[i] for i in (3, 4, 5)] == [2, 2, 2]
    assert grades[len(papers) - 1] == 1  # a co-author's paper
    assert sorted(set(grades.values())) == [0, 1, 2]


def test_easy_negatives_are_random_background_papers_outside_the_query():
    import scipy.sparse as sp

    from paperrec.recommend.corpus import Corpus
    from paperrec.train.ranker_fit import with_easy_negatives

    papers = corpus()
    data = Corpus(
        papers,
        np.zeros((len(papers), 4), np.float32),
        sp.csr_matrix((len(papers), 3)),
        np.zeros((len(papers), 0), np.float32),
        np.arange(len(papers)),
    )
    user = next(u for u in author_users(papers) if u.name == "Ann Lee")
    pool = NegativePool(papers, data.background)
    (query,) = continuation_queries(
        papers, [user], pool, np.random.default_rng(0), n_negatives=100, profile_share=0.5
    )
    wider = with_easy_negatives(query, data, 10, np.random.default_rng(1))
    added = wider.candidates[len(query.candidates) :]
    assert len(added) == 10 and (wider.relevance[len(query.candidates) :] == 0).all()
    assert wider.candidates[: len(query.candidates)].tolist() == query.candidates.tolist()
    taken = set(query.candidates.tolist()) | set(query.liked.tolist())
    assert not taken.intersection(added.tolist()) and len(set(added.tolist())) == 10
    assert all("Ann Lee" not in papers[i].authors for i in added)
