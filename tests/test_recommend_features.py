"""ProfileFeaturizer, recency_weights and zotero_weights on tiny hand-made arrays.

Every expected value below is worked out by hand from unit vectors along the axes of a
6-dimensional space, so a wrong index, axis or normalisation shows up as a wrong number.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from paperrec.recommend.features import (
    FEATURE_NAMES,
    CandidateArrays,
    ProfileArrays,
    ProfileFeaturizer,
    recency_weights,
    zotero_weights,
)

DIM = 6
R14 = np.sqrt(14)
R2 = np.sqrt(2)


def e(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1
    return v


# Candidates: c0 leans on liked papers 0 > 1 > 2, c1 is liked paper 0 itself, c2 and c3 are
# far from every liked paper, c4 sits between c2 and c3.
CANDIDATES = np.array(
    [np.array([3, 2, 1, 0, 0, 0]) / R14, e(0), e(4), e(5), (e(4) + e(5)) / R2], dtype=np.float32
)
LIKED = np.array([e(0), e(1), e(2), e(3)], dtype=np.float32)
WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
# A three-term vocabulary: c0 uses term 0, c1 terms 0 and 1, c2 term 2, c3 and c4 none.
CAND_LEX = sp.csr_matrix(
    np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=np.float32)
)
LIKED_LEX = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=np.float32))
# Three topics: liked papers are half topic 0, half topic 1.
CAND_TOPICS = np.array(
    [[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1], [0, 0, 0.2], [0.1, 0, 0.9]], dtype=np.float32
)
LIKED_TOPICS = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.float32)
# Who wrote what: c0 shares "Ada" (on two liked papers) and "Bo" (one), c1 shares "Bo",
# c2 no one, c3's authors are unknown, c4 "Cy" who wrote no liked paper.
CAND_AUTHORS = (("Ada", "Bo", "Zed"), ("Bo",), ("Xi",), (), ("Cy",))
LIKED_AUTHORS = {"Ada": 2, "Bo": 1}


def candidates(topics: np.ndarray | None = None) -> CandidateArrays:
    topics = CAND_TOPICS if topics is None else topics
    return CandidateArrays(CANDIDATES, CAND_LEX, topics, CAND_AUTHORS)


def profile(
    disliked: list[np.ndarray] = (),
    disliked_lex: np.ndarray | None = None,
    liked_topics: np.ndarray = LIKED_TOPICS,
    chosen: np.ndarray | None = None,
) -> ProfileArrays:
    dis = np.array(disliked, dtype=np.float32).reshape(len(disliked), DIM)
    dis_lex = sp.csr_matrix(
        np.zeros((len(disliked), 3), np.float32) if disliked_lex is None else disliked_lex
    )
    return ProfileArrays(
        liked=LIKED,
        liked_weights=WEIGHTS,
        disliked=dis,
        liked_topics=liked_topics,
        liked_lexical=LIKED_LEX,
        disliked_lexical=dis_lex,
        chosen_topics=np.zeros(0) if chosen is None else chosen,
        liked_authors=LIKED_AUTHORS,
    )


def columns(features: np.ndarray) -> dict[str, np.ndarray]:
    assert features.shape == (len(CANDIDATES), len(FEATURE_NAMES))
    return {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}


@pytest.fixture()
def featurizer() -> ProfileFeaturizer:
    # shrinkage 1: the precision is a multiple of the identity, so no whitening at all
    return ProfileFeaturizer(shrinkage=1.0).fit(np.vstack([np.eye(DIM), -np.eye(DIM)]))


def test_similarity_to_liked_papers(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    np.testing.assert_allclose(f["sim_max"], [3 / R14, 1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["sim_mean"], [1.5 / R14, 0.25, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(
        f["sim_top3"], [2 / R14, 1 / 3, 0, 0, 0], atol=1e-6
    )  # mean of the 3 best
    # centroid (1,1,1,1,0,0)/4 normalised is (1,1,1,1,0,0)/2
    np.testing.assert_allclose(f["sim_centroid"], [3 / R14, 0.5, 0, 0, 0], atol=1e-6)
    # weights 0.4, 0.3, 0.2, 0.1 on liked papers 0..3
    np.testing.assert_allclose(f["sim_decayed"], [(1.2 + 0.6 + 0.2) / R14, 0.4, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["log_profile_size"], np.log1p(4))
    # zotero-arxiv-daily: weights 1/(1+log10(rank+1)) by recency rank (0.4 is the newest)
    w = 1 / (1 + np.log10(np.arange(4) + 1))
    np.testing.assert_allclose(f["sim_zotero"], (CANDIDATES @ LIKED.T) @ (w / w.sum()), atol=1e-6)
    # the nearest liked paper's recency, relative to the newest: c0 and c1 nearest paper 0
    np.testing.assert_allclose(f["nearest_recency"][:2], [1, 1], atol=1e-6)


def test_background_scores_standardise_against_the_background_sample(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    background = featurizer.background_
    bg_max = (background @ LIKED.T).max(axis=1)
    np.testing.assert_allclose(
        f["bg_max"], (f["sim_max"] - bg_max.mean()) / (bg_max.std() + 1e-6), atol=1e-5
    )
    centroid = np.array([1, 1, 1, 1, 0, 0]) / 2
    bg_centroid = background @ centroid
    np.testing.assert_allclose(
        f["bg_centroid"],
        (f["sim_centroid"] - bg_centroid.mean()) / (bg_centroid.std() + 1e-6),
        atol=1e-5,
    )
    # no lexical background fitted: the word-based background features are missing
    assert np.isnan(f["bg_lex"]).all() and np.isnan(f["lex_rare_max"]).all()


def test_prior_is_background_max_plus_half_the_background_word_overlap(lexical_featurizer):
    f = columns(lexical_featurizer.transform(profile(), candidates()))
    np.testing.assert_allclose(f["prior"], f["bg_max"] + 0.5 * f["bg_lex"], atol=1e-5)


def test_background_word_overlap_is_the_centroid_overlap_in_background_standard_scores(
    lexical_featurizer,
):
    f = columns(lexical_featurizer.transform(profile(), candidates()))
    # mean word overlap with the 4 liked papers: c0 shares term 0 with one, c1 0.6 of term 0
    # with one and 0.8 of term 1 with another
    np.testing.assert_allclose(f["lex_centroid"], [0.25, 0.35, 0, 0, 0], atol=1e-6)
    # the same mean overlap for each background paper: the 10 of term 0 and the one of
    # term 1 share a term with one liked paper of 4, the one of term 2 with none
    background = np.array([0.25] * 11 + [0.0])
    expected = (f["lex_centroid"] - background.mean()) / (background.std() + 1e-6)
    np.testing.assert_allclose(f["bg_lex"], expected, atol=1e-5)


@pytest.fixture()
def lexical_featurizer() -> ProfileFeaturizer:
    # 12 background papers; term 0 in 10 of them (common), terms 1 and 2 in one each (rare)
    X = np.vstack([np.eye(DIM), -np.eye(DIM)]).astype(np.float32)
    lex = np.zeros((12, 3), np.float32)
    lex[:10, 0] = 1
    lex[10, 1] = lex[11, 2] = 1
    return ProfileFeaturizer(shrinkage=1.0).fit(X, sp.csr_matrix(lex))


def test_rare_word_overlap_counts_only_rare_terms(lexical_featurizer):
    assert lexical_featurizer.rare_terms_.diagonal().tolist() == [0, 1, 1]
    f = columns(lexical_featurizer.transform(profile(), candidates()))
    # c0 shares only the common term 0; c1 shares rare term 1 (0.8 x 1 with liked paper 1)
    np.testing.assert_allclose(f["lex_rare_max"], [0, 0.8, 0, 0, 0], atol=1e-6)


def test_author_features_count_liked_papers_by_the_candidates_authors(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    # c0: Ada wrote 2 of 4 liked papers, Bo 1 -> share .5, two authors; c1: Bo -> .25
    np.testing.assert_allclose(f["author_share"][[0, 1, 2, 4]], [0.5, 0.25, 0, 0])
    np.testing.assert_allclose(f["author_hits"][[0, 1, 2, 4]], [2, 1, 0, 0])
    assert np.isnan(f["author_share"][3]) and np.isnan(f["author_hits"][3])  # unknown authors


def test_author_features_are_nan_without_author_lists(featurizer):
    anonymous = CandidateArrays(CANDIDATES, CAND_LEX, CAND_TOPICS)
    f = columns(featurizer.transform(profile(), anonymous))
    assert np.isnan(f["author_share"]).all() and np.isnan(f["author_hits"]).all()


def test_a_candidate_scores_the_same_alone_as_among_many(lexical_featurizer):
    full = lexical_featurizer.transform(profile([e(4)]), candidates())
    for i in range(len(CANDIDATES)):
        one = CandidateArrays(
            CANDIDATES[i : i + 1],
            CAND_LEX[i : i + 1],
            CAND_TOPICS[i : i + 1],
            CAND_AUTHORS[i : i + 1],
        )
        np.testing.assert_allclose(
            lexical_featurizer.transform(profile([e(4)]), one)[0], full[i], atol=1e-6
        )


def test_zotero_weights_follow_recency_and_keep_profile_order_on_ties():
    w = 1 / (1 + np.log10(np.arange(3) + 1))
    np.testing.assert_allclose(zotero_weights(np.array([0.2, 0.5, 0.3])), w[[2, 0, 1]] / w.sum())
    np.testing.assert_allclose(zotero_weights(np.full(3, 1 / 3)), w / w.sum())


def test_top3_with_fewer_liked_papers_is_their_mean(featurizer):
    two = ProfileArrays(
        LIKED[:2],
        np.array([0.5, 0.5]),
        np.zeros((0, DIM), np.float32),
        LIKED_TOPICS[:2],
        LIKED_LEX[:2],
        LIKED_LEX[:0],
    )
    f = columns(featurizer.transform(two, candidates()))
    np.testing.assert_allclose(f["sim_top3"], f["sim_mean"], atol=1e-7)
    np.testing.assert_allclose(f["sim_top3"][0], 2.5 / R14, atol=1e-6)


def test_lexical_similarity(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    # c0 . liked = (1, 0, 0, 0); c1 . liked = (0.6, 0.8, 0, 0); c2 shares no liked term
    np.testing.assert_allclose(f["lex_max"], [1, 0.8, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["lex_centroid"], [0.25, 0.35, 0, 0, 0], atol=1e-6)


def test_whitened_without_shrinkage_of_the_background_is_the_centroid_direction(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    # background mean 0, so the direction is the centroid's: (1,1,1,1,0,0)/2
    np.testing.assert_allclose(featurizer.mean_, 0, atol=1e-7)
    np.testing.assert_allclose(f["whitened"], f["sim_centroid"], atol=1e-6)
    np.testing.assert_allclose(f["genericness"], 0, atol=1e-7)


def test_whitening_shrinks_directions_every_paper_varies_along():
    # Background spread: axis 0 has variance 2/7, axis 1 four times as much (np.cov, n-1)
    background = np.array([e(0), -e(0), 2 * e(1), -2 * e(1), e(2), -e(2), e(3), -e(3)])
    full = ProfileFeaturizer(shrinkage=0.0).fit(background[:, :4])
    liked = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32)
    prof = ProfileArrays(
        liked,
        np.array([0.5, 0.5]),
        np.zeros((0, 4), np.float32),
        np.zeros((2, 0)),
        sp.csr_matrix((2, 1)),
        sp.csr_matrix((0, 1)),
    )
    cands = CandidateArrays(np.eye(4, dtype=np.float32), sp.csr_matrix((4, 1)), np.zeros((4, 0)))
    f = dict(zip(FEATURE_NAMES, full.transform(prof, cands).T, strict=True))
    # direction = inv(cov) @ (0.5, 0.5, 0, 0) ∝ (1, 1/4, 0, 0), normalised: (4, 1, 0, 0) / sqrt(17)
    np.testing.assert_allclose(f["whitened"], np.array([4, 1, 0, 0]) / np.sqrt(17), atol=1e-5)
    np.testing.assert_allclose(
        f["sim_centroid"], [1 / R2, 1 / R2, 0, 0], atol=1e-6
    )  # unwhitened: a tie


def test_genericness_is_similarity_to_the_background_mean():
    background = np.array([e(0), e(0), e(1), e(0)])
    fitted = ProfileFeaturizer().fit(background)
    np.testing.assert_allclose(fitted.mean_, [0.75, 0.25, 0, 0, 0, 0])
    f = columns(fitted.transform(profile(), candidates()))
    np.testing.assert_allclose(
        f["genericness"], CANDIDATES @ np.array([0.75, 0.25, 0, 0, 0, 0]), atol=1e-6
    )


def test_dislike_features_are_nan_without_disliked_papers(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    for name in ("dis_max", "dis_mean", "lex_dis_max"):
        assert np.isnan(f[name]).all(), name
    np.testing.assert_allclose(f["like_minus_dislike"], f["sim_max"])  # nothing subtracted


def test_dislike_features_with_disliked_papers(featurizer):
    lex = np.array([[0, 0, 1], [0, 0, 0]], dtype=np.float32)
    f = columns(featurizer.transform(profile([e(4), e(5)], lex), candidates()))
    np.testing.assert_allclose(f["dis_max"], [0, 0, 1, 1, 1 / R2], atol=1e-6)
    np.testing.assert_allclose(f["dis_mean"], [0, 0, 0.5, 0.5, 1 / R2], atol=1e-6)
    np.testing.assert_allclose(f["lex_dis_max"], [0, 0, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["like_minus_dislike"], [3 / R14, 1, -1, -1, -1 / R2], atol=1e-6)


def test_prior_loses_what_a_candidate_is_nearer_to_a_disliked_paper_than_to_a_liked_one(
    featurizer,
):
    plain = columns(featurizer.transform(profile(), candidates()))
    f = columns(featurizer.transform(profile([e(4), e(5)]), candidates()))
    # c0 and c1 are nearer to liked papers: untouched; c2, c3 sit on a disliked paper (excess
    # 1), c4 between two (excess 1/sqrt 2); counted in background standard deviations of
    # the similarity to the nearest liked paper
    excess = np.array([0, 0, 1, 1, 1 / R2])
    spread = (featurizer.background_ @ LIKED.T).max(axis=1).std() + 1e-6
    np.testing.assert_allclose(f["prior"], plain["prior"] - excess / spread, atol=1e-4)


def test_topic_agreement_is_cosine_to_the_liked_papers_mean_topics(featurizer):
    f = columns(featurizer.transform(profile(), candidates()))
    # liked mean topics (0.5, 0.5, 0); c0 (1,0,0) -> 1/sqrt2; c1 (.6,.8,0) -> .7/(1 * .7071)
    expected = [1 / R2, 0.7 * R2, 0, 0, 0.05 / (np.sqrt(0.82) / R2)]
    np.testing.assert_allclose(f["topic_agreement"], expected, atol=1e-5)
    assert np.isnan(f["chosen_topic_max"]).all()  # the user chose no topics


def test_chosen_topic_max_is_the_best_probability_among_chosen_topics(featurizer):
    f = columns(featurizer.transform(profile(chosen=np.array([1, 0, 1])), candidates()))
    np.testing.assert_allclose(f["chosen_topic_max"], [1, 0.6, 1, 0.2, 0.9], atol=1e-6)
    none = columns(featurizer.transform(profile(chosen=np.zeros(3)), candidates()))
    assert np.isnan(none["chosen_topic_max"]).all()


def test_topic_features_are_nan_without_a_topic_model(featurizer):
    prof = profile(liked_topics=np.zeros((4, 0)), chosen=np.zeros(0))
    f = columns(featurizer.transform(prof, candidates(np.zeros((5, 0), np.float32))))
    assert np.isnan(f["topic_agreement"]).all() and np.isnan(f["chosen_topic_max"]).all()
    assert not np.isnan(f["sim_max"]).any()


def test_profile_without_liked_papers_leaves_liked_features_nan(featurizer):
    empty = ProfileArrays(
        np.zeros((0, DIM), np.float32),
        np.zeros(0),
        np.array([e(4)]),
        np.zeros((0, 3)),
        sp.csr_matrix((0, 3)),
        sp.csr_matrix(np.array([[0, 0, 1.0]])),
    )
    f = columns(featurizer.transform(empty, candidates()))
    for name in ("sim_max", "sim_mean", "whitened", "lex_max", "bg_max", "author_share"):
        assert np.isnan(f[name]).all(), name
    np.testing.assert_allclose(f["like_minus_dislike"], -f["dis_max"])


def test_recency_weights_halve_every_half_life():
    weights = recency_weights(np.array([0, 180, 360, 540]), half_life_days=180)
    np.testing.assert_allclose(weights, np.array([8, 4, 2, 1]) / 15)
    np.testing.assert_allclose(weights[1:] / weights[:-1], 0.5)
    np.testing.assert_allclose(
        recency_weights(np.array([0, 30]), half_life_days=30), [2 / 3, 1 / 3]
    )


def test_recency_weights_are_uniform_for_unknown_ages():
    np.testing.assert_allclose(recency_weights(np.full(4, np.nan), 180), 0.25)
    # unknown ages count as the median known age; future likes as new ones
    np.testing.assert_allclose(
        recency_weights(np.array([0, np.nan, 360]), 180), np.array([4, 2, 1]) / 7
    )
    np.testing.assert_allclose(recency_weights(np.array([-50, 0]), 180), [0.5, 0.5])
    assert recency_weights(np.zeros(0), 180).shape == (0,)


def test_many_profiles_at_once_score_as_each_alone(lexical_featurizer):
    """transform_many stacks the liked papers of every profile; each block must be what the
    profile gives alone, whatever its size, dislikes, authors or chosen topics."""
    profiles = [
        profile(),
        profile([e(4)], np.array([[0, 0, 1]], np.float32)),
        ProfileArrays(
            liked=LIKED[2:3],
            liked_weights=np.ones(1),
            disliked=np.zeros((0, DIM), np.float32),
            liked_topics=LIKED_TOPICS[2:3],
            liked_lexical=LIKED_LEX[2:3],
            disliked_lexical=sp.csr_matrix((0, 3), dtype=np.float32),
            chosen_topics=np.array([0, 0, 1.0]),
        ),
        ProfileArrays(  # no liked papers: only the dislike and topic features apply
            liked=np.zeros((0, DIM), np.float32),
            liked_weights=np.zeros(0),
            disliked=np.array([e(5)]),
            liked_topics=np.zeros((0, 3), np.float32),
            liked_lexical=sp.csr_matrix((0, 3), dtype=np.float32),
            disliked_lexical=sp.csr_matrix((1, 3), dtype=np.float32),
        ),
        profile(liked_topics=LIKED_TOPICS[:, :0]),
    ]
    many = lexical_featurizer.transform_many(profiles, candidates())
    alone = np.vstack([lexical_featurizer.transform(p, candidates()) for p in profiles])
    assert many.shape == (len(profiles) * len(CANDIDATES), len(FEATURE_NAMES))
    np.testing.assert_allclose(many, alone, atol=1e-6)
    assert not np.isnan(many[: len(CANDIDATES)]).all(axis=0)[FEATURE_NAMES.index("author_hits")]
