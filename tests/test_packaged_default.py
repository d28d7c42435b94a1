"""The topic model shipped inside the package: the portable format round-trips exactly, the
shipped model says what it needs and what it is, a fresh home gets it as its first topics
champion once (real model, real encoder), and another encoder or taxonomy is refused in
one line."""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import paperrec
from paperrec import bundles
from paperrec.cli import app
from paperrec.config import DEFAULT_MODEL, Settings
from paperrec.errors import PaperrecError
from paperrec.evaluate.topics import evaluate_topics
from paperrec.papers.sources import read
from paperrec.runtime import Runtime
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.default import DIRECTORY, ORIGIN, REQUIRED, load_packaged, packaged_meta
from paperrec.topics.model import TopicModel
from paperrec.topics.portable import BOOSTERS, read_portable, write_portable
from paperrec.topics.taxonomy import load_taxonomy, parse_taxonomy
from paperrec.train import registry
from paperrec.train.default_model import TRAINING_CODE, training_code
from paperrec.train.packaged import ORIGIN_TAG, ensure_packaged_champion

TAXONOMY = """
version: 1
topics:
  - id: vision
    name: Vision
    description: Images.
    arxiv: [cs.CV]
  - id: language
    name: Language
    description: Text.
    arxiv: [cs.CL]
  - id: never
    name: Never
    description: A topic no paper has.
    keywords: [nothing]
"""
DIM = 8
MAX_SHIPPED_BYTES = 5_000_000


@pytest.fixture(scope="module")
def small_model() -> TopicModel:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, DIM)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0.3, X[:, 1] > 0.5, np.zeros(600)]).astype(np.int8)
    return TopicModel(
        taxonomy=parse_taxonomy(TAXONOMY, "tiny.yaml"),
        classifier=TopicClassifier(n_estimators=20, n_jobs=1).fit(X, Y),
        embedding_model_id="test-model|seq=default|float32",
        topic_vectors=rng.normal(size=(3, DIM)).astype(np.float32),
        view_mean=rng.normal(size=3),
        view_scale=rng.random(3) + 0.5,
        summary={"n_papers": 600},
    )


def test_the_portable_format_predicts_exactly_what_the_fitted_model_does(small_model, tmp_path):
    written = write_portable(small_model, tmp_path / "portable", {"extra": "kept"})
    again = read_portable(written)
    X = np.random.default_rng(1).normal(size=(50, DIM)).astype(np.float32)
    assert np.array_equal(again.predict_proba(X), small_model.predict_proba(X))
    assert np.array_equal(again.classifier.predict(X), small_model.classifier.predict(X))
    assert again.thresholds == small_model.thresholds and again.thresholds["never"] == 1.0
    assert again.classifier.get_params() == small_model.classifier.get_params()
    assert again.topic_ids == small_model.topic_ids and again.summary == {"n_papers": 600}
    assert np.array_equal(again.topic_vectors, small_model.topic_vectors)
    assert json.loads((written / "meta.json").read_text())["extra"] == "kept"
    text = (written / BOOSTERS).read_bytes()
    assert b"leaf_count" not in lzma.decompress(text)  # training statistics left out
    # and it saves as an ordinary bundle, as the registry stores it
    reloaded = TopicModel.load(again.save(tmp_path / "bundle"))
    assert np.array_equal(reloaded.predict_proba(X), small_model.predict_proba(X))


def test_a_damaged_portable_model_is_refused_in_one_line(small_model, tmp_path):
    written = write_portable(small_model, tmp_path / "portable")
    (written / BOOSTERS).write_bytes(b"not xz")
    with pytest.raises(PaperrecError, match="cannot read the topic model") as caught:
        read_portable(written)
    assert "\n" not in str(caught.value)
    (written / "meta.json").write_text("{}")
    with pytest.raises(PaperrecError, match="not a portable paperrec topic model"):
        read_portable(written)


# -- the shipped model ------------------------------------------------------------------------
def test_the_shipped_model_says_what_it_needs_and_what_it_is():
    meta = packaged_meta()
    assert set(REQUIRED) <= set(meta)
    encoder = meta["encoder"]
    assert encoder["model"] == DEFAULT_MODEL and encoder["dimension"] == 384
    assert encoder["normalisation"].startswith("L2")
    assert meta["taxonomy_sha256"] == load_taxonomy().sha256  # rebuilt with the taxonomy
    data = meta["training_data"]
    assert set(data["files"]) == {"arxiv_pool.jsonl", "arxiv_pool_noncs.jsonl"}
    assert data["papers"] == sum(f["papers"] for f in data["files"].values()) >= 35_000
    assert data["first_date"] < data["last_date"]
    assert meta["training_config"]["classifier"]["n_estimators"] == 150
    for name in ("arxiv_dev.jsonl", "arxiv_ood_dev.jsonl"):
        macro = meta["metrics"][name]["area_macro_f1"]
        assert {"classifier", "majority_vote", "zero_shot", "ceiling"} <= set(macro)
    assert meta["git_commit"] != "unknown" and meta["paperrec_version"]
    code = meta["training_code"]
    assert len(code["sha256"]) == 64 and code["covers"] == list(TRAINING_CODE)
    text = (DIRECTORY / "meta.json").read_text()
    assert "/tmp/" not in text and "/work/" not in text and "/home/" not in text
    size = sum(p.stat().st_size for p in DIRECTORY.iterdir())
    assert size < MAX_SHIPPED_BYTES, f"the packaged model grew to {size:,} bytes"


def test_the_training_code_hash_follows_the_files_not_the_commit(tmp_path):
    """What meta.json records as the code it was built from stays true after a rebase (the
    same files hash the same anywhere) and changes with any file of the training code."""
    package = Path(paperrec.__file__).parent
    copy = tmp_path / "paperrec"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "default"))
    found = training_code(copy)
    assert found == training_code(package) and found["files"] > 10
    with (copy / "topics" / "classify.py").open("a") as handle:
        handle.write("\n# changed\n")
    assert training_code(copy)["sha256"] != found["sha256"]
    (copy / "topics" / "classify.py").unlink()
    assert training_code(copy)["files"] == found["files"] - 1


def _runtime(settings: Settings, embedder) -> Runtime:
    runtime = Runtime(settings)
    runtime.embedder = embedder  # the session's real model and cache
    return runtime


def test_a_fresh_home_gets_the_packaged_model_as_champion_once(home, embedder, shared_dir):
    runtime = _runtime(Settings(), embedder)
    first = ensure_packaged_champion(runtime, load_taxonomy().sha256)
    assert first.status == "registered" and first.version == "1", first.message
    assert "registered as topics champion v1" in first.message
    again = ensure_packaged_champion(runtime)
    assert again.status == "present" and again.version == "1"
    versions = registry.list_versions(runtime.settings, registry.TOPICS_MODEL)
    assert [v.version for v in versions] == ["1"]
    assert versions[0].tags[ORIGIN_TAG] == ORIGIN and versions[0].aliases == ("champion",)

    # the exported champion is the packaged model: same probabilities on real dev papers
    dev = [p for p in read(shared_dir / "data" / "arxiv_dev.jsonl").papers[:300] if p.categories]
    X = embedder.embed(dev)
    champion = TopicModel.load(bundles.champion(runtime.settings, "topics")[0])
    assert np.array_equal(champion.predict_proba(X), load_packaged().predict_proba(X))
    result = evaluate_topics(champion, dev, X)["macro_f1"]
    assert result["classifier"] > result["majority_vote"], result

    listed = CliRunner().invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["origin"] == ORIGIN and row["value"] == pytest.approx(
        packaged_meta()["metrics"]["arxiv_dev.jsonl"]["area_macro_f1"]["classifier"]
    )
    card = (runtime.settings.resolved_model_cards / "topics.md").read_text()
    assert "packaged default" in card and "paperrec.train.default_model" in card


def test_another_encoder_is_refused_in_one_line(home, embedder):
    other = _runtime(Settings(embedding_model="sentence-transformers/all-mpnet-base-v2"), embedder)
    outcome = ensure_packaged_champion(other)
    assert outcome.status == "refused" and "\n" not in outcome.message
    assert outcome.message == (
        "packaged default topic model not used: it needs the encoder "
        f"{DEFAULT_MODEL} (384-d, L2 (unit-length vectors)); this home runs "
        "sentence-transformers/all-mpnet-base-v2; topics train locally"
    )
    assert registry.list_versions(other.settings, registry.TOPICS_MODEL) == []


def test_another_dimension_or_taxonomy_is_refused(home, embedder, tmp_path):
    copy = shutil.copytree(DIRECTORY, tmp_path / "default")
    meta = json.loads((copy / "meta.json").read_text())
    meta["encoder"]["dimension"] = 768
    (copy / "meta.json").write_text(json.dumps(meta))
    runtime = _runtime(Settings(), embedder)
    outcome = ensure_packaged_champion(runtime, directory=copy)
    assert outcome.status == "refused" and "this home's encoder gives 384-d vectors" in (
        outcome.message
    )
    outcome = ensure_packaged_champion(runtime, taxonomy_sha256="0" * 64)
    assert outcome.status == "refused" and "this retrain uses 000000000000" in outcome.message
    assert registry.list_versions(runtime.settings, registry.TOPICS_MODEL) == []


def test_turned_off_it_registers_nothing(home, embedder, monkeypatch):
    monkeypatch.setenv("PAPERREC_PACKAGED_TOPICS", "false")
    runtime = _runtime(Settings(), embedder)
    assert ensure_packaged_champion(runtime).status == "off"
    assert registry.list_versions(runtime.settings, registry.TOPICS_MODEL) == []
