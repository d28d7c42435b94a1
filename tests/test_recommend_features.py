"""ProfileFeaturizer, neighbour_radius and recency_weights on tiny hand-made arrays.

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
    neighbour_radius,
    recency_weights,
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
AGES = np.array([0, 1, 2, np.nan, 5], dtype=np.float32)


def candidates(topics: np.ndarray | None = None) -> CandidateArrays:
    topics = CAND_TOPICS if topics is None else topics
    return CandidateArrays(CANDIDATES, CAND_LEX, topics, AGES)


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
    )


def columns(features: np.ndarray) -> dict[str, np.ndarray]:
    assert features.shape == (len(CANDIDATES), len(FEATURE_NAMES))
    return {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}


@pytest.fixture()
def featurizer() -> ProfileFeaturizer:
    # shrinkage 1: the precision is a multiple of the identity, so no whitening at all
    return ProfileFeaturizer(shrinkage=1.0).fit(np.vstack([np.eye(DIM), -np.eye(DIM)]))


RADIUS = np.array([0.5, 0.5, 0.0, 0.5, 0.8], dtype=np.float32)


def test_similarity_to_liked_papers(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
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
    np.testing.assert_allclose(f["age_days"], AGES)
    np.testing.assert_allclose(
        f["z_centroid"],
        (f["sim_centroid"] - f["sim_centroid"].mean()) / f["sim_centroid"].std(),
        atol=1e-4,
    )


def test_prior_is_standardised_whitened_plus_half_the_standardised_word_overlap(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))

    def z(values):
        return (values - values.mean()) / values.std()

    np.testing.assert_allclose(f["prior"], z(f["whitened"]) + 0.5 * z(f["lex_centroid"]), atol=1e-4)


def test_top3_with_fewer_liked_papers_is_their_mean(featurizer):
    two = ProfileArrays(
        LIKED[:2],
        np.array([0.5, 0.5]),
        np.zeros((0, DIM), np.float32),
        LIKED_TOPICS[:2],
        LIKED_LEX[:2],
        LIKED_LEX[:0],
    )
    f = columns(featurizer.transform(two, candidates(), RADIUS))
    np.testing.assert_allclose(f["sim_top3"], f["sim_mean"], atol=1e-7)
    np.testing.assert_allclose(f["sim_top3"][0], 2.5 / R14, atol=1e-6)


def test_lexical_similarity(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
    # c0 . liked = (1, 0, 0, 0); c1 . liked = (0.6, 0.8, 0, 0); c2 shares no liked term
    np.testing.assert_allclose(f["lex_max"], [1, 0.8, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["lex_centroid"], [0.25, 0.35, 0, 0, 0], atol=1e-6)


def test_liked_in_neighbourhood_counts_liked_papers_within_the_candidate_radius(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
    # c0's sims (.80, .53, .27, 0) >= .5: two; c1: only liked paper 0; c2 with radius 0: all
    # four (cosine 0 >= 0); c3 and c4: none
    np.testing.assert_array_equal(f["liked_in_neighbourhood"], [2, 1, 4, 0, 0])


def test_neighbour_radius_is_similarity_to_the_kth_nearest_other_candidate():
    X = np.array([e(0), e(0), e(1), (e(1) + e(2)) / R2], dtype=np.float32)
    np.testing.assert_allclose(neighbour_radius(X, k=1), [1, 1, 1 / R2, 1 / R2], atol=1e-6)
    np.testing.assert_allclose(neighbour_radius(X, k=2), [0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(
        neighbour_radius(X, k=10), [0, 0, 0, 0], atol=1e-6
    )  # k capped at n-1
    np.testing.assert_array_equal(neighbour_radius(X[:1]), [1])


def test_neighbour_radius_blocks_agree_with_a_direct_computation():
    X = np.random.default_rng(0).normal(size=(2100, 8)).astype(np.float32)  # spans three blocks
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.sort(sims, axis=1)[:, -10]
    np.testing.assert_allclose(neighbour_radius(X, k=10), expected, atol=1e-6)


def test_transform_without_radius_uses_the_candidates_own_radius(featurizer):
    own = featurizer.transform(profile(), candidates(), neighbour_radius(CANDIDATES))
    np.testing.assert_array_equal(featurizer.transform(profile(), candidates()), own)


def test_whitened_without_shrinkage_of_the_background_is_the_centroid_direction(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
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
    cands = CandidateArrays(
        np.eye(4, dtype=np.float32), sp.csr_matrix((4, 1)), np.zeros((4, 0)), np.full(4, np.nan)
    )
    f = dict(zip(FEATURE_NAMES, full.transform(prof, cands, np.ones(4, np.float32)).T, strict=True))
    # direction = inv(cov) @ (0.5, 0.5, 0, 0) ∝ (1, 1/4, 0, 0), normalised: (4, 1, 0, 0) / sqrt(17)
    np.testing.assert_allclose(f["whitened"], np.array([4, 1, 0, 0]) / np.sqrt(17), atol=1e-5)
    np.testing.assert_allclose(
        f["sim_centroid"], [1 / R2, 1 / R2, 0, 0], atol=1e-6
    )  # unwhitened: a tie


def test_genericness_is_similarity_to_the_background_mean():
    background = np.array([e(0), e(0), e(1), e(0)])
    fitted = ProfileFeaturizer().fit(background)
    np.testing.assert_allclose(fitted.mean_, [0.75, 0.25, 0, 0, 0, 0])
    f = columns(fitted.transform(profile(), candidates(), RADIUS))
    np.testing.assert_allclose(
        f["genericness"], CANDIDATES @ np.array([0.75, 0.25, 0, 0, 0, 0]), atol=1e-6
    )


def test_dislike_features_are_nan_without_disliked_papers(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
    for name in ("dis_max", "dis_mean", "lex_dis_max"):
        assert np.isnan(f[name]).all(), name
    np.testing.assert_allclose(f["like_minus_dislike"], f["sim_max"])  # nothing subtracted


def test_dislike_features_with_disliked_papers(featurizer):
    lex = np.array([[0, 0, 1], [0, 0, 0]], dtype=np.float32)
    f = columns(featurizer.transform(profile([e(4), e(5)], lex), candidates(), RADIUS))
    np.testing.assert_allclose(f["dis_max"], [0, 0, 1, 1, 1 / R2], atol=1e-6)
    np.testing.assert_allclose(f["dis_mean"], [0, 0, 0.5, 0.5, 1 / R2], atol=1e-6)
    np.testing.assert_allclose(f["lex_dis_max"], [0, 0, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f["like_minus_dislike"], [3 / R14, 1, -1, -1, -1 / R2], atol=1e-6)


def test_prior_loses_what_a_candidate_is_nearer_to_a_disliked_paper_than_to_a_liked_one(
    featurizer,
):
    plain = columns(featurizer.transform(profile(), candidates(), RADIUS))
    f = columns(featurizer.transform(profile([e(4), e(5)]), candidates(), RADIUS))
    # c0 and c1 are nearer to liked papers: untouched; c2, c3 sit on a disliked paper (excess
    # 1), c4 between two (excess 1/sqrt 2); counted in standard deviations of sim_max
    excess = np.array([0, 0, 1, 1, 1 / R2])
    np.testing.assert_allclose(
        f["prior"], plain["prior"] - excess / plain["sim_max"].std(), atol=1e-4
    )


def test_topic_agreement_is_cosine_to_the_liked_papers_mean_topics(featurizer):
    f = columns(featurizer.transform(profile(), candidates(), RADIUS))
    # liked mean topics (0.5, 0.5, 0); c0 (1,0,0) -> 1/sqrt2; c1 (.6,.8,0) -> .7/(1 * .7071)
    expected = [1 / R2, 0.7 * R2, 0, 0, 0.05 / (np.sqrt(0.82) / R2)]
    np.testing.assert_allclose(f["topic_agreement"], expected, atol=1e-5)
    assert np.isnan(f["chosen_topic_max"]).all()  # the user chose no topics


def test_chosen_topic_max_is_the_best_probability_among_chosen_topics(featurizer):
    f = columns(featurizer.transform(profile(chosen=np.array([1, 0, 1])), candidates(), RADIUS))
    np.testing.assert_allclose(f["chosen_topic_max"], [1, 0.6, 1, 0.2, 0.9], atol=1e-6)
    none = columns(featurizer.transform(profile(chosen=np.zeros(3)), candidates(), RADIUS))
    assert np.isnan(none["chosen_topic_max"]).all()


def test_topic_features_are_nan_without_a_topic_model(featurizer):
    prof = profile(liked_topics=np.zeros((4, 0)), chosen=np.zeros(0))
    f = columns(featurizer.transform(prof, candidates(np.zeros((5, 0), np.float32)), RADIUS))
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
    f = columns(featurizer.transform(empty, candidates(), RADIUS))
    for name in ("sim_max", "sim_mean", "whitened", "lex_max", "liked_in_neighbourhood"):
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
