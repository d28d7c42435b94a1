"""Pseudo-users from title phrases and weak topic labels, and the queries built from them."""

from __future__ import annotations

import numpy as np
import pytest

from paperrec.recommend.pseudo_users import (
    PseudoUser,
    Query,
    make_queries,
    near_dislike_queries,
    phrase_users,
    topic_users,
)
from paperrec.schema import Paper

FILLER = "We report experiments on standard benchmarks."
CORPUS = [
    Paper.create("Gaussian Splatting for Dynamic Scenes", FILLER),
    Paper.create("Fast Gaussian Splatting on Mobile Phones", FILLER),
    Paper.create("Gaussian Splatting Meets Language", FILLER),
    Paper.create(
        "A Study of Radiance Fields", "We compare NeRF with Gaussian splatting. " + FILLER
    ),
    Paper.create("Speculative Decoding with Draft Trees", FILLER),
    Paper.create("Parallel Speculative Decoding", FILLER),
    Paper.create("Speculative Decoding at Scale", FILLER),
    Paper.create("Protein Folding with Transformers", FILLER),
    Paper.create("Robot Grasping from Pixels", FILLER),
    Paper.create("Diffusion Policy Learning for Manipulation", FILLER),
    Paper.create("Robust Diffusion Policy Learning", FILLER),
    Paper.create("Diffusion Policy Learning in the Wild", FILLER),
]
ALL = np.arange(len(CORPUS))


def by_name(users: list[PseudoUser]) -> dict[str, list[int]]:
    return {u.name: sorted(u.members.tolist()) for u in users}


def test_phrase_users_group_papers_sharing_a_title_phrase():
    users = by_name(phrase_users(CORPUS, ALL, min_size=3, max_size=10))
    # the abstract that mentions the phrase joins the user; the phrase must be in 3 titles
    assert users["phrase:gaussian splatting"] == [0, 1, 2, 3]
    assert users["phrase:speculative decoding"] == [4, 5, 6]
    # "diffusion policy", "policy learning" and "diffusion policy learning" name the same
    # three papers: only one of them is kept
    diffusion = [name for name, members in users.items() if members == [9, 10, 11]]
    assert len(diffusion) == 1
    assert len(users) == 3
    assert not any(" for" in name or "with " in name for name in users)  # no stop-word edges


def test_phrase_users_keep_overlapping_users_when_allowed():
    users = by_name(phrase_users(CORPUS, ALL, min_size=3, max_size=10, max_jaccard=1.01))
    assert {
        "phrase:diffusion policy",
        "phrase:policy learning",
        "phrase:diffusion policy learning",
    } <= set(users)


def test_phrase_users_respect_sizes_and_the_candidate_subset():
    assert "phrase:gaussian splatting" not in by_name(
        phrase_users(CORPUS, ALL, min_size=3, max_size=3)
    )  # 4 members
    subset = np.array([0, 1, 3, 4, 5, 6, 7])  # paper 2 left out: the phrase is in 2 titles only
    users = by_name(phrase_users(CORPUS, subset, min_size=3, max_size=10))
    assert users == {"phrase:speculative decoding": [4, 5, 6]}


TOPICS = ("vision", "language", "continual-learning", "diffusion")
LABELS = np.array(
    [
        # vision, language, continual, diffusion
        [1, 0, 1, 0],
        [1, 0, 1, 0],
        [1, 0, 1, 1],
        [0, 1, 1, 0],
        [0, 1, 1, 0],
        [1, 0, 0, 1],
        [1, 0, 0, 1],
        [0, 1, 0, 0],
    ]
)


def test_topic_users_are_papers_with_a_fine_topic_inside_an_area():
    users = by_name(
        topic_users(LABELS, TOPICS, fine=[2, 3], areas=[0, 1], candidates=np.arange(8), min_size=2)
    )
    assert users == {
        "topic:continual-learning&vision": [0, 1, 2],
        "topic:continual-learning&language": [3, 4],
        "topic:diffusion&vision": [2, 5, 6],
    }
    limited = by_name(
        topic_users(LABELS, TOPICS, fine=[2, 3], areas=[0, 1], candidates=np.arange(5), min_size=2)
    )
    assert limited == {
        "topic:continual-learning&vision": [0, 1, 2],
        "topic:continual-learning&language": [3, 4],
    }
    assert (
        topic_users(LABELS, TOPICS, fine=[2, 3], areas=[0, 1], candidates=np.arange(8), min_size=4)
        == []
    )


# -- queries -------------------------------------------------------------------------------------
USERS = [
    PseudoUser("a", np.arange(0, 30)),
    PseudoUser("b", np.arange(30, 60)),
    PseudoUser("c", np.arange(55, 90)),
]
BACKGROUND = np.arange(300)


def queries(**kwargs):
    params = {"profile_sizes": (3, 5), "n_relevant": 10, "n_negatives": 50, "repeats": 3}
    return make_queries(USERS, BACKGROUND, np.random.default_rng(0), **{**params, **kwargs})


def test_queries_have_disjoint_profiles_positives_and_negatives():
    built = queries(dislike_share=0.0)
    assert len(built) == 3 * len(USERS)
    members = {u.name: set(u.members.tolist()) for u in USERS}
    for q in built:
        assert len(q.liked) in (3, 5) and set(q.liked) <= members[q.user]
        assert q.candidates.shape == q.relevance.shape == (10 + 50,)
        assert len(set(q.candidates.tolist())) == len(q.candidates)
        positives, negatives = (
            set(q.candidates[q.relevance == 1]),
            set(q.candidates[q.relevance == 0]),
        )
        assert len(positives) == 10 and positives <= members[q.user]
        assert not negatives & members[q.user]
        assert not set(q.liked) & set(q.candidates.tolist())
        assert len(q.disliked) == 0


def test_dislike_queries_make_another_users_papers_disliked_and_hard_negatives():
    built = queries(dislike_share=1.0)
    members = {u.name: set(u.members.tolist()) for u in USERS}
    for q in built:
        others = set().union(*(m for name, m in members.items() if name != q.user))
        assert len(q.disliked) == 3, q.user
        assert set(q.disliked) <= others - members[q.user]
        negatives = set(q.candidates[q.relevance == 0].tolist())
        hard = negatives & (others - members[q.user])
        assert len(hard) >= 20  # the other user's papers beyond the three disliked ones
        assert not negatives & members[q.user]


def test_queries_skip_users_too_small_for_the_profile():
    tiny = [PseudoUser("tiny", np.arange(4)), PseudoUser("big", np.arange(10, 40))]
    built = make_queries(
        tiny, BACKGROUND, np.random.default_rng(0), profile_sizes=(5,), n_negatives=20
    )
    assert [q.user for q in built] == ["big"]


def test_queries_work_on_a_background_smaller_than_twice_the_negatives():
    built = make_queries(
        USERS, np.arange(120), np.random.default_rng(0), n_negatives=100, profile_sizes=(3,)
    )
    for q in built:
        negatives = q.candidates[q.relevance == 0]
        assert 0 < len(negatives) <= 100


def test_queries_are_reproducible_from_the_seed():
    first, again = queries(), queries()
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.candidates, b.candidates)
        np.testing.assert_array_equal(a.liked, b.liked)


@pytest.mark.parametrize("size", [3, 20])
def test_relevant_count_is_capped_by_what_the_user_has_left(size):
    built = make_queries(
        [USERS[0]],
        BACKGROUND,
        np.random.default_rng(1),
        profile_sizes=(size,),
        n_relevant=40,
        n_negatives=10,
    )
    assert int(built[0].relevance.sum()) == 30 - size


def test_near_dislike_queries_dislike_an_own_paper_and_demote_its_nearest_relevant():
    # papers 0-3 relevant, 4-5 not; 1 and 2 are near copies, 3 is far from both
    X = np.array([[1, 0, 0], [0, 1, 0], [0, 0.99, 0.141], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    query = Query(
        "u", np.array([9]), np.zeros(0, int), np.arange(6), np.array([1, 1, 1, 1, 0, 0.0])
    )
    changed = near_dislike_queries([query] * 50, X, np.random.default_rng(0), share=1.0)
    assert len(changed) == 50
    for q in changed:
        (disliked,) = q.disliked
        assert disliked not in q.candidates and len(q.candidates) == 5
        np.testing.assert_array_equal(q.liked, [9])
        assert q.relevance.sum() == 2  # one relevant paper disliked, its nearest demoted
        demoted = set(q.candidates[q.relevance == 0].tolist()) - {4, 5}
        (nearest,) = demoted
        others = [c for c in (0, 1, 2, 3) if c not in (disliked, nearest)]
        assert all(X[nearest] @ X[disliked] >= X[c] @ X[disliked] for c in others)
        if disliked in (1, 2):
            assert nearest == 3 - disliked  # the near copy goes down
    assert {int(q.disliked[0]) for q in changed} == {0, 1, 2, 3}


def test_near_dislike_queries_leave_the_rest_alone():
    built = queries(dislike_share=0.3)
    X = np.random.default_rng(0).normal(size=(300, 8))
    same = near_dislike_queries(built, X, np.random.default_rng(0), share=0.0)
    assert all(a is b for a, b in zip(same, built, strict=True))
    some = near_dislike_queries(built, X, np.random.default_rng(0), share=0.5)
    changed = [a for a, b in zip(some, built, strict=True) if a is not b]
    assert 0 < len(changed) < len(built)
    for q, before in zip(some, built, strict=True):
        if q is not before:  # one more disliked paper, no longer a candidate
            assert len(q.disliked) == len(before.disliked) + 1
            assert q.disliked[-1] not in q.candidates and q.disliked[-1] in before.candidates
