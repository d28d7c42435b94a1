"""Fine-topic evaluation: the gold file's topics, the papers matched by id, every method
scored per fine topic; the shipped gold set is ids + labels only and names real topics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from paperrec.errors import InputError
from paperrec.evaluate.agreement import agreement, read_labels
from paperrec.evaluate.fine_topics import (
    evaluate_fine_topics,
    fine_gold_matrix,
    fine_zero_shot,
    match_papers,
)
from paperrec.schema import Paper
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.model import TopicModel
from paperrec.topics.taxonomy import load_taxonomy, parse_taxonomy

GOLD = Path(__file__).resolve().parents[1] / "src" / "paperrec" / "evaluate" / "gold"
TAXONOMY = """
version: 1
topics:
  - id: vision
    name: Vision
    description: Images.
    keywords: [image]
    arxiv: [cs.CV]
  - id: diffusion
    name: Diffusion
    parent: vision
    description: Diffusion models.
    keywords: [diffusion]
  - id: detection
    name: Detection
    parent: vision
    description: Object detection.
    keywords: [detection, detector]
"""
DIM = 8


@pytest.fixture(scope="module")
def model() -> TopicModel:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, DIM)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] > 0.5]).astype(np.int8)
    vectors = np.eye(3, DIM, dtype=np.float32)
    return TopicModel(
        taxonomy=parse_taxonomy(TAXONOMY, "tiny.yaml"),
        classifier=TopicClassifier(n_estimators=20, n_jobs=1).fit(X, Y),
        embedding_model_id="test-model",
        topic_vectors=vectors,
        view_mean=np.zeros(3),
        view_scale=np.full(3, 0.5),
    )


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    texts = [
        ("A diffusion model for images", "We train a diffusion model."),
        ("An object detector", "A fast detector for object detection."),
        ("Image statistics", "We study image statistics."),
        ("Diffusion detection", "Diffusion features for detection."),
    ]
    return [Paper.create(t, a, id=f"p{i}") for i, (t, a) in enumerate(texts)]


def test_gold_matrix_and_matching(model, papers):
    labels = {"p3": ["diffusion", "detection"], "p0": ["diffusion"], "p2": []}
    judged = match_papers(labels, papers, "dev.jsonl")
    assert [p.id for p in judged] == ["p3", "p0", "p2"]  # gold order
    gold = fine_gold_matrix(model, labels, judged)
    np.testing.assert_array_equal(gold, [[0, 1, 1], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(InputError, match=r"1 gold paper\(s\) not in dev.jsonl \(first: p9\)"):
        match_papers({"p9": []}, papers, "dev.jsonl")
    with pytest.raises(InputError, match=r"unknown fine topic 'vision'; available: detection"):
        fine_gold_matrix(model, {"p0": ["vision"]}, judged[1:2])


def test_every_method_is_scored_per_fine_topic(model, papers):
    X = np.random.default_rng(3).normal(size=(len(papers), DIM)).astype(np.float32)
    labels = {"p0": ["diffusion"], "p1": ["detection"], "p2": [], "p3": ["diffusion"]}
    gold = fine_gold_matrix(model, labels, papers)
    result = evaluate_fine_topics(model, papers, X, gold)
    assert result["n_papers"] == 4 and result["n_topics"] == 2
    assert result["n_without_fine_topic"] == 1
    assert set(result["topics"]) == {"diffusion", "detection"}
    assert set(result["macro_f1"]) == {"classifier", "majority_vote", "zero_shot"}
    assert result["topics"]["diffusion"]["support"] == 2
    # the keyword rules find the papers that name their topic
    assert result["topics"]["detection"]["majority_vote"]["recall"] == 1.0


def test_zero_shot_needs_a_close_description(model):
    X = np.zeros((2, DIM), dtype=np.float32)
    X[0, 1] = 1.0  # exactly the diffusion description: z = 2
    X[1, 1] = 0.5  # halfway: z = 1, not close enough
    predicted = fine_zero_shot(model, X)
    np.testing.assert_array_equal(predicted, [[0, 1, 0], [0, 0, 0]])


def test_the_shipped_gold_set_is_ids_and_real_fine_topics():
    fine = set(load_taxonomy().fine_ids)
    passes = {}
    for name in ("fine_topics", "fine_topics_pass1", "fine_topics_pass2"):
        path = GOLD / f"{name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 320 and all(set(r) == {"id", "topics"} for r in rows), name
        assert {t for r in rows for t in r["topics"]} <= fine, name
        passes[name] = read_labels(path)
    result = agreement(passes["fine_topics_pass1"], passes["fine_topics_pass2"], sorted(fine))
    assert result["n_papers"] == 320 and result["disagreements"] == 29
    # the adjudicated label of a paper the passes agreed on is theirs
    for paper_id, topics in passes["fine_topics"].items():
        if set(passes["fine_topics_pass1"][paper_id]) == set(passes["fine_topics_pass2"][paper_id]):
            assert set(topics) == set(passes["fine_topics_pass1"][paper_id])
