"""TopicModel: the saved directory round-trips exactly; labels and score rows; loading
refuses missing or foreign directories with a message that says what to do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paperrec.errors import ModelNotTrainedError, PaperrecError
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.model import FORMAT_VERSION, TopicModel
from paperrec.topics.taxonomy import parse_taxonomy

TAXONOMY = """
version: 1
topics:
  - id: vision
    name: Vision
    description: Images.
    keywords: [image]
    arxiv: [cs.CV]
  - id: language
    name: Language
    description: Text.
    keywords: [text]
    arxiv: [cs.CL]
  - id: diffusion
    name: Diffusion
    parent: vision
    description: Diffusion models.
    keywords: [diffusion]
"""
DIM = 8


@pytest.fixture(scope="module")
def model() -> TopicModel:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, DIM)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0.3, X[:, 1] > 0.5, X[:, 0] + X[:, 2] > 1.0]).astype(np.int8)
    classifier = TopicClassifier(n_estimators=20, n_jobs=1).fit(X, Y)
    return TopicModel(
        taxonomy=parse_taxonomy(TAXONOMY, "tiny.yaml"),
        classifier=classifier,
        embedding_model_id="test-model|seq=default|float32",
        topic_vectors=rng.normal(size=(3, DIM)).astype(np.float32),
        view_mean=rng.normal(size=3),
        view_scale=rng.random(3) + 0.5,
        summary={"n_papers": 600, "positive_rate": {"vision": 0.4}},
    )


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(50, DIM)).astype(np.float32)


def test_save_load_round_trip(model, X, tmp_path):
    directory = model.save(tmp_path / "topic-model")
    assert sorted(p.name for p in directory.iterdir()) == [
        "classifier.joblib",
        "meta.json",
        "taxonomy.yaml",
    ]
    loaded = TopicModel.load(directory)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.classifier.thresholds_, model.classifier.thresholds_)
    assert loaded.topic_ids == model.topic_ids == ("vision", "language", "diffusion")
    assert loaded.taxonomy.sha256 == model.taxonomy.sha256
    assert loaded.taxonomy.text == model.taxonomy.text
    assert loaded.embedding_model_id == model.embedding_model_id
    assert loaded.summary == model.summary
    for name in ("topic_vectors", "view_mean", "view_scale"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.score_rows(["a"], X[:1]) == model.score_rows(["a"], X[:1])


def test_meta_describes_the_bundle(model, tmp_path):
    meta = json.loads((model.save(tmp_path / "m") / "meta.json").read_text())
    assert meta["kind"] == "paperrec-topics" and meta["format_version"] == FORMAT_VERSION
    assert meta["topics"] == ["vision", "language", "diffusion"]
    assert meta["taxonomy_sha256"] == model.taxonomy.sha256
    assert meta["embedding_model_id"] == model.embedding_model_id
    np.testing.assert_allclose(meta["thresholds"], model.classifier.thresholds_, atol=1e-6)


def test_labels_are_the_topics_above_threshold_most_probable_first(model, X):
    P = model.predict_proba(X)
    thresholds = model.classifier.thresholds_
    for row, labels in zip(P, model.labels(P), strict=True):
        assert set(labels) == {
            t for t, p, c in zip(model.topic_ids, row, thresholds, strict=True) if p >= c
        }
        probabilities = [row[model.topic_ids.index(t)] for t in labels]
        assert probabilities == sorted(probabilities, reverse=True)
    assert any(model.labels(P)) and not all(model.labels(P))


def test_score_rows(model, X):
    rows = model.score_rows(["2401.00001v2", "mine"], X[:2])
    assert [r["id"] for r in rows] == ["2401.00001v2", "mine"]
    P = model.predict_proba(X[:2])
    for row, probabilities in zip(rows, P, strict=True):
        assert list(row["topics"]) == list(model.topic_ids)
        np.testing.assert_allclose(list(row["topics"].values()), probabilities, atol=5e-5)
    assert model.score_rows([], X[:0]) == []


def test_load_a_missing_directory(tmp_path):
    with pytest.raises(ModelNotTrainedError, match="paperrec train topics"):
        TopicModel.load(tmp_path / "nowhere")


def test_load_a_directory_without_meta(tmp_path):
    (tmp_path / "classifier.joblib").write_bytes(b"")
    with pytest.raises(ModelNotTrainedError, match="no topic model at"):
        TopicModel.load(tmp_path)


@pytest.mark.parametrize(
    "meta",
    [
        {"kind": "paperrec-ranker", "format_version": FORMAT_VERSION},
        {"kind": "paperrec-topics", "format_version": FORMAT_VERSION + 1},
        {},
    ],
)
def test_load_a_foreign_directory(tmp_path, meta):
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PaperrecError, match="is not a paperrec topic model"):
        TopicModel.load(tmp_path)
