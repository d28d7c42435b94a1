"""Weak supervision: labeling functions generated from a tiny taxonomy, their votes on
hand-made papers, custom functions, the Dawid-Skene label model on a synthetic label
matrix with known accuracies, anchors, and the LF report computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from paperrec.schema import Paper
from paperrec.topics.labeling import (
    ABSTAIN,
    NEGATIVE,
    POSITIVE,
    LabelingFunction,
    LabelModel,
    MajorityVote,
    ViewBuilder,
    apply_lfs,
    combine,
    generate_lfs,
    labeling_function,
    lf_report,
    majority_vote,
    with_anchor_positives,
)
from paperrec.topics.taxonomy import parse_taxonomy
from paperrec.train.topics_fit import TopicTrainingConfig, weak_label

TINY = r"""
version: 1
topics:
  - id: vision
    name: Vision
    description: Images.
    keywords: [image, images, segmentation]
    arxiv: [cs.CV, eess.IV]
  - id: maths
    name: Mathematics
    description: Theorems.
    arxiv: [math.*]
  - id: biology
    name: Biology
    description: Proteins.
    keywords: [protein]
  - id: diffusion
    name: Diffusion
    parent: vision
    description: Diffusion models.
    keywords: [diffusion]
    patterns: ['\bdenois\w*']
"""

EXPECTED_LFS = [
    ("kw_title:vision", "vision", "keyword", False),
    ("kw_abstract:vision", "vision", "keyword", False),
    ("sim:vision", "vision", "similarity", False),
    ("arxiv:vision", "vision", "arxiv", True),
    ("sim:maths", "maths", "similarity", False),
    ("arxiv:maths", "maths", "arxiv", True),
    ("kw_title:biology", "biology", "keyword", False),
    ("kw_abstract:biology", "biology", "keyword", False),
    ("sim:biology", "biology", "similarity", False),
    ("kw_title:diffusion", "diffusion", "keyword", False),
    ("kw_abstract:diffusion", "diffusion", "keyword", False),
    ("sim:diffusion", "diffusion", "similarity", False),
]


@pytest.fixture(scope="module")
def taxonomy():
    return parse_taxonomy(TINY, "tiny.yaml")


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


# Topic description vectors: one axis per topic (vision, maths, biology, diffusion).
TOPIC_VECTORS = np.eye(4, dtype=np.float32)
PAPERS = [
    # one keyword hit in the title, one in the abstract; diffusion twice in the abstract
    Paper.create(
        "Image segmentation with diffusion",
        "We segment images. Denoising diffusion helps.",
        categories=("cs.CV",),
    ),
    # no keywords, no categories (a pasted abstract); embedding near three areas
    Paper.create("A theorem on primes", "We prove a bound."),
    # a maths paper cross-listed to vision; embedding far from vision
    Paper.create(
        "Protein folding bounds",
        "A protein protein interaction theorem.",
        categories=("math.AP", "cs.CV"),
    ),
]
X = np.vstack([_unit(1, 0, 0, 0), _unit(0.6, 0.5, 0.4, 0.1), _unit(-1, 0, 0, 0)])


@pytest.fixture(scope="module")
def views(taxonomy):
    # mean 0 and scale 0.1: the standardised similarity is 10 x cosine, easy to reason about
    builder = ViewBuilder.from_stats(taxonomy, TOPIC_VECTORS, np.zeros(4), np.full(4, 0.1))
    return builder.build(PAPERS, X)


def test_generated_lfs_follow_the_taxonomy(taxonomy):
    lfs = generate_lfs(taxonomy)
    assert [(lf.name, lf.topic, lf.kind, lf.uses_categories) for lf in lfs] == EXPECTED_LFS


def _votes(taxonomy, views) -> dict[str, list[int]]:
    lfs = generate_lfs(taxonomy)
    L = apply_lfs(lfs, views)
    assert L.shape == (len(PAPERS), len(lfs)) and L.dtype == np.int8
    return {lf.name: L[:, j].tolist() for j, lf in enumerate(lfs)}


def test_keyword_lfs_vote_and_abstain(taxonomy, views):
    votes = _votes(taxonomy, views)
    # a title hit votes; the title has no say otherwise
    assert votes["kw_title:vision"] == [POSITIVE, ABSTAIN, ABSTAIN]
    # abstract: one hit abstains, none votes negative, two or more vote positive
    assert votes["kw_abstract:vision"] == [ABSTAIN, NEGATIVE, NEGATIVE]
    assert votes["kw_title:biology"] == [ABSTAIN, ABSTAIN, POSITIVE]
    assert votes["kw_abstract:biology"] == [NEGATIVE, NEGATIVE, POSITIVE]
    # regex patterns count like keywords ("Denoising" + "diffusion" = 2 hits)
    assert votes["kw_title:diffusion"] == [POSITIVE, ABSTAIN, ABSTAIN]
    assert votes["kw_abstract:diffusion"] == [POSITIVE, NEGATIVE, NEGATIVE]


def test_similarity_lfs_vote_and_abstain(taxonomy, views):
    votes = _votes(taxonomy, views)
    # z = 10 cos: >= 2 and among the two nearest of its level votes positive, <= 0 negative
    assert votes["sim:vision"] == [POSITIVE, POSITIVE, NEGATIVE]
    assert votes["sim:maths"] == [NEGATIVE, POSITIVE, NEGATIVE]
    # paper 1 is close to biology (z 4.5) but biology is only its third-nearest area
    assert views[1].similarity_rank[2] == 2 and views[1].similarity_z[2] > 2
    assert votes["sim:biology"] == [NEGATIVE, ABSTAIN, NEGATIVE]
    # paper 1: 0 < z = 1.1 < 2 abstains
    assert votes["sim:diffusion"] == [NEGATIVE, ABSTAIN, NEGATIVE]


def test_arxiv_lfs_read_any_listed_category(taxonomy, views):
    votes = _votes(taxonomy, views)
    assert votes["arxiv:vision"] == [POSITIVE, ABSTAIN, POSITIVE]  # cross-list counts
    assert votes["arxiv:maths"] == [NEGATIVE, ABSTAIN, POSITIVE]  # no categories: abstain


def test_hidden_categories_make_arxiv_lfs_abstain(taxonomy):
    builder = ViewBuilder.from_stats(taxonomy, TOPIC_VECTORS, np.zeros(4), np.full(4, 0.1))
    lfs = [lf for lf in generate_lfs(taxonomy) if lf.uses_categories]
    L = apply_lfs(lfs, builder.build(PAPERS, X, use_categories=False))
    assert (L == ABSTAIN).all()


def test_view_builder_standardises_similarity_on_the_fitted_corpus(taxonomy):
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(500, 4)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    builder = ViewBuilder(taxonomy, TOPIC_VECTORS).fit(corpus)
    z = builder.similarity_z(corpus)
    assert z.shape == (500, 4)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
    # a builder rebuilt from the saved statistics gives the same views
    again = ViewBuilder.from_stats(taxonomy, TOPIC_VECTORS, builder.mean_, builder.scale_)
    np.testing.assert_array_equal(again.similarity_z(corpus), z)


@labeling_function(topic="diffusion")
def mentions_denoising(paper) -> int:
    return POSITIVE if "denoising" in paper.text_lower else ABSTAIN


def test_custom_labeling_function_joins_the_matrix(taxonomy, views):
    assert isinstance(mentions_denoising, LabelingFunction)
    assert (mentions_denoising.name, mentions_denoising.topic, mentions_denoising.kind) == (
        "mentions_denoising", "diffusion", "custom",
    )  # fmt: skip
    lfs = [*generate_lfs(taxonomy), mentions_denoising]
    L = apply_lfs(lfs, views)
    assert L[:, -1].tolist() == [POSITIVE, ABSTAIN, ABSTAIN]
    weak = combine(L, lfs, taxonomy.ids)
    # the diffusion label model weighs the three generated functions and the custom one
    assert weak.models["diffusion"].confusion_.shape == (4, 2, 3)
    assert not np.isnan(weak.learned_accuracy[-1])
    report = lf_report(L, lfs, taxonomy.ids)
    assert report[-1]["lf"] == "mentions_denoising" and report[-1]["coverage"] == pytest.approx(
        1 / 3
    )


def test_custom_labeling_function_in_training_labels(taxonomy):
    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(len(PAPERS), 4)).astype(np.float32)
    result = weak_label(
        PAPERS, corpus, taxonomy, TOPIC_VECTORS, TopicTrainingConfig(), [mentions_denoising]
    )
    assert result.lfs[-1] is mentions_denoising
    assert result.L.shape == (len(PAPERS), len(EXPECTED_LFS) + 1)
    assert result.probabilities.shape == (len(PAPERS), len(taxonomy))
    assert [row["lf"] for row in result.report][-1] == "mentions_denoising"


# -- label model --------------------------------------------------------------------------
N, PRIOR = 20_000, 0.3
COVERAGE = [0.9, 0.7, 0.5, 0.4, 0.8]
ACCURACY = [0.85, 0.75, 0.65, 0.95, 0.6]
# plus a one-sided function (like a title keyword): fires on half the positives, 2 % of negatives
ONE_SIDED_ACCURACY = 0.5 * PRIOR / (0.5 * PRIOR + 0.02 * (1 - PRIOR))


@pytest.fixture(scope="module")
def synthetic():
    """(L, y): 20,000 papers, six conditionally independent functions of known accuracy."""
    rng = np.random.default_rng(0)
    y = (rng.random(N) < PRIOR).astype(int)
    L = np.full((N, len(COVERAGE) + 1), ABSTAIN, dtype=np.int8)
    for j, (coverage, accuracy) in enumerate(zip(COVERAGE, ACCURACY, strict=True)):
        votes = rng.random(N) < coverage
        right = rng.random(N) < accuracy
        L[votes, j] = np.where(right, y, 1 - y)[votes]
    fires = np.where(y == 1, rng.random(N) < 0.5, rng.random(N) < 0.02)
    L[fires, -1] = POSITIVE
    return L, y


def test_label_model_recovers_lf_accuracies(synthetic):
    L, _ = synthetic
    model = LabelModel().fit(L)
    np.testing.assert_allclose(model.lf_accuracies_, [*ACCURACY, ONE_SIDED_ACCURACY], atol=0.02)
    assert model.prior_ == pytest.approx(PRIOR, abs=0.02)
    assert model.n_iter_ < model.n_iter  # converged


def test_label_model_beats_majority_vote(synthetic):
    L, y = synthetic
    model = LabelModel().fit(L)
    probabilities = model.predict_proba(L)
    assert probabilities.shape == (N, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)
    label_model = (model.predict(L) == y).mean()
    majority = (MajorityVote().predict(L) == y).mean()
    assert label_model > majority + 0.02, (label_model, majority)


def test_anchors_keep_their_accuracy(synthetic):
    L, _ = synthetic
    free = LabelModel().fit(L)
    anchored = LabelModel(anchors={3: 0.99}).fit(L)
    assert free.lf_accuracies_[3] == pytest.approx(0.95, abs=0.02)
    assert anchored.lf_accuracies_[3] == pytest.approx(0.99, abs=1e-9)
    # abstaining stays independent of the class for the anchor
    assert anchored.confusion_[3, 0, 2] == pytest.approx(anchored.confusion_[3, 1, 2])


def test_combine_anchors_the_category_functions(taxonomy, views):
    lfs = generate_lfs(taxonomy)
    L = apply_lfs(lfs, views)
    weak = combine(L, lfs, taxonomy.ids, anchor_accuracy=0.97)
    for j, lf in enumerate(lfs):
        if lf.uses_categories:
            assert weak.learned_accuracy[j] == pytest.approx(0.97)
    assert weak.probabilities.shape == weak.majority.shape == (len(PAPERS), len(taxonomy))
    np.testing.assert_array_equal(weak.majority, majority_vote(L, lfs, taxonomy.ids))


def test_topics_without_an_anchor_can_take_majority_vote(taxonomy, views):
    lfs = generate_lfs(taxonomy)
    L = apply_lfs(lfs, views)
    anchored = {lf.topic for lf in lfs if lf.uses_categories}
    weak = combine(L, lfs, taxonomy.ids, unanchored="majority")
    learned = combine(L, lfs, taxonomy.ids)  # the label model: the default
    majority = majority_vote(L, lfs, taxonomy.ids)
    for t, topic in enumerate(taxonomy.ids):
        if topic in anchored:
            np.testing.assert_array_equal(weak.probabilities[:, t], learned.probabilities[:, t])
        else:
            np.testing.assert_array_equal(weak.probabilities[:, t], majority[:, t])
            voted = weak.models[topic].predict_proba(
                L[:, [j for j, lf in enumerate(lfs) if lf.topic == topic]]
            )
            np.testing.assert_array_equal(learned.probabilities[:, t], voted[:, 1])
    assert set(anchored) and set(taxonomy.ids) - anchored
    with pytest.raises(ValueError, match="unanchored must be"):
        combine(L, lfs, taxonomy.ids, unanchored="vote")


def test_anchor_positives_make_every_listed_paper_a_positive(taxonomy, views):
    lfs = generate_lfs(taxonomy)
    L = apply_lfs(lfs, views)
    none = np.zeros((len(PAPERS), len(taxonomy)), dtype=np.int8)
    labels = with_anchor_positives(none, L, lfs, taxonomy.ids)
    vision, maths = taxonomy.ids.index("vision"), taxonomy.ids.index("maths")
    # cs.CV on papers 0 and 2, math.AP on paper 2; paper 1 has no categories
    assert labels[:, vision].tolist() == [1, 0, 1] and labels[:, maths].tolist() == [0, 0, 1]
    assert labels.sum() == 3  # topics without an anchor keep their labels (all 0 here)
    ones = np.ones_like(none)
    np.testing.assert_array_equal(with_anchor_positives(ones, L, lfs, taxonomy.ids), ones)


def test_majority_vote_by_hand():
    L = np.array([[1, 1, 0], [0, 0, -1], [1, 0, -1], [-1, -1, -1]])
    np.testing.assert_allclose(MajorityVote().predict_proba(L)[:, 1], [2 / 3, 0, 0.5, 0.5])
    assert MajorityVote().predict(L).tolist() == [1, 0, 0, 0]  # ties and silence: negative


# -- LF report ----------------------------------------------------------------------------
def _lf(name: str, topic: str) -> LabelingFunction:
    return LabelingFunction(name, topic, lambda paper: ABSTAIN)


def test_lf_report_by_hand():
    lfs = [_lf("a1", "A"), _lf("a2", "A"), _lf("b1", "B")]
    L = np.array(
        [
            [1, 1, -1],
            [1, 0, 0],
            [-1, 0, 1],
            [-1, -1, 1],
        ]
    )
    gold = np.array([[1, 0], [0, 0], [0, 1], [-1, 1]])  # -1: unknown
    rows = {
        r["lf"]: r
        for r in lf_report(
            L, lfs, ["A", "B"], gold=gold, learned_accuracy=np.array([0.9, 0.8, 0.7])
        )
    }
    a1, a2, b1 = rows["a1"], rows["a2"], rows["b1"]
    assert (a1["coverage"], a1["overlap"], a1["conflict"], a1["positive_share"]) == (
        0.5,
        0.5,
        0.25,
        1.0,
    )
    assert (a2["coverage"], a2["overlap"], a2["conflict"]) == (0.75, 0.5, 0.25)
    assert a2["positive_share"] == pytest.approx(1 / 3)
    # overlap and conflict count only functions of the same topic
    assert (b1["coverage"], b1["overlap"], b1["conflict"]) == (0.75, 0.0, 0.0)
    assert b1["positive_share"] == pytest.approx(2 / 3)
    # empirical accuracy on the rows where the function votes and gold is known
    assert (a1["empirical_accuracy"], a1["n_gold"]) == (0.5, 2)
    assert (a2["empirical_accuracy"], a2["n_gold"]) == (1.0, 3)
    assert (b1["empirical_accuracy"], b1["n_gold"]) == (1.0, 3)
    assert [rows[n]["learned_accuracy"] for n in ("a1", "a2", "b1")] == [0.9, 0.8, 0.7]
    assert rows["a1"]["topic"] == "A" and rows["a1"]["kind"] == "custom"


def test_lf_report_without_gold_has_no_accuracy_columns():
    lfs = [_lf("a1", "A")]
    (row,) = lf_report(np.array([[-1], [-1]]), lfs, ["A"])
    assert row["coverage"] == 0.0 and row["positive_share"] is None
    assert "empirical_accuracy" not in row and "learned_accuracy" not in row
