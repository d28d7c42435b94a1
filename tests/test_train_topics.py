"""`train_topics` end to end on a slice of ../shared: an isolated PAPERREC_HOME, a real
MLflow tracking store (SQLite), read back with MlflowClient; and the trained champion on
the seed abstracts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from paperrec.papers.sources import read_path
from paperrec.schema import Paper

pytestmark = pytest.mark.slow  # trains topic models (about a minute on 2 idle cores)

POOL_PAPERS, DEV_PAPERS = 300, 100
CONFIG = {"n_estimators": 30}


def _slice(source: Path, target: Path, n: int) -> Path:
    with source.open(encoding="utf-8") as handle:
        target.write_text(
            "".join(line for _, line in zip(range(n), handle, strict=False)), encoding="utf-8"
        )
    return target


def _seed_papers(pages: list[Path]) -> list[Paper]:
    unique: dict[str, Paper] = {}
    for page in pages:
        for record in read_path(page):
            if isinstance(record, Paper):
                unique.setdefault(record.id, record)
    return list(unique.values())


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_dir, seed_pages, session_cache, small_pool):
    """One training run (with dev papers) in a fresh home; returns (runtime, result, dev)."""
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.papers.ingest import ingest_paths
    from paperrec.runtime import Runtime
    from paperrec.train.topics_fit import TopicTrainingConfig
    from paperrec.train.topics_run import train_topics

    root = tmp_path_factory.mktemp("train-topics")
    with pytest.MonkeyPatch.context() as env:  # nothing from the caller's environment
        for name in ("MLFLOW_TRACKING_URI", "PAPERREC_DATABASE_URL", "BENTOML_HOME"):
            env.delenv(name, raising=False)
        settings = Settings(home=root / "home")
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)
    pool = _slice(small_pool, root / "pool.jsonl", POOL_PAPERS)  # vectors already cached
    ingest_paths(runtime.store.papers, [*seed_pages, pool])
    dev_file = _slice(shared_dir / "data" / "arxiv_dev.jsonl", root / "dev.jsonl", DEV_PAPERS)
    dev = [r for r in read_path(dev_file) if isinstance(r, Paper)]
    result = train_topics(runtime, dev_papers=dev, config=TopicTrainingConfig(classifier=CONFIG))
    return runtime, result, dev


@pytest.fixture(scope="module")
def client(trained):
    from paperrec.train import registry

    runtime, _, _ = trained
    return registry.tracking_client(runtime.settings)  # its registry too, not the process's


def test_the_run_lives_in_the_isolated_home(trained):
    runtime, _, _ = trained
    home = runtime.settings.home
    assert runtime.settings.resolved_tracking_uri == f"sqlite:///{home / 'mlflow.sqlite'}"
    assert (home / "mlflow.sqlite").is_file()
    assert any((home / "mlartifacts").rglob("lf_report.json"))


def test_training_leaves_the_environment_alone(trained, tmp_path):
    """MLflow exports its URIs to os.environ; a later install in the same process must still
    get its own tracking store, not this one."""
    from paperrec.config import Settings

    runtime, _, _ = trained
    assert os.environ.get("MLFLOW_TRACKING_URI") != runtime.settings.resolved_tracking_uri
    assert os.environ.get("MLFLOW_REGISTRY_URI") != runtime.settings.resolved_tracking_uri
    if "MLFLOW_TRACKING_URI" not in os.environ:
        other = Settings(home=tmp_path / "other")
        assert other.resolved_tracking_uri == f"sqlite:///{tmp_path / 'other' / 'mlflow.sqlite'}"


def test_params_hold_the_config_and_the_taxonomy_hash(trained, client):
    from paperrec.topics.taxonomy import load_taxonomy

    runtime, result, _ = trained
    params = client.get_run(result.run_id).data.params
    assert params["taxonomy.sha256"] == load_taxonomy().sha256
    assert params["taxonomy.source"] == "paperrec/topics/taxonomy.yaml"
    assert params["training.classifier.n_estimators"] == str(CONFIG["n_estimators"])
    assert params["training.anchor_accuracy"] == "0.995"
    assert params["training.random_state"] == "0"
    # the whole settings object, secrets masked
    assert params["config.home"] == str(runtime.settings.home)
    assert params["config.embedding_model"] == runtime.settings.embedding_model
    assert params["config.token_secret_set"] == "False"
    assert not any("token_secret" == key.split(".")[-1] for key in params)


def test_metrics_are_logged(trained, client):
    runtime, result, _ = trained
    metrics = client.get_run(result.run_id).data.metrics
    n_papers = runtime.store.papers.count()
    assert metrics["n_papers"] == result.summary["n_papers"] == n_papers
    assert metrics["n_with_categories"] == POOL_PAPERS  # seed pages carry no categories
    for kind in ("keyword", "similarity", "arxiv"):
        assert 0 < metrics[f"lf_{kind}_coverage"] <= 1
    for method in ("classifier", "majority_vote", "zero_shot", "ceiling"):
        assert 0 <= metrics[f"dev_macro_f1_{method}"] <= 1
    assert metrics["fit_seconds"] >= 0 and metrics["label_seconds"] >= 0


def test_artifacts_hold_the_lf_report_and_the_plots(trained, client, tmp_path):
    from paperrec.topics.labeling import generate_lfs
    from paperrec.topics.taxonomy import load_taxonomy

    _, result, _ = trained
    names = {
        a.path
        for folder in ("labeling", "evaluation")
        for a in client.list_artifacts(result.run_id, folder)
    }
    assert {
        "labeling/lf_report.json",
        "evaluation/dev.json",
        "evaluation/precision_recall.png",
        "evaluation/calibration.png",
        "evaluation/reliability_per_area.png",
    } <= names
    report = json.loads(
        Path(
            client.download_artifacts(result.run_id, "labeling/lf_report.json", str(tmp_path))
        ).read_text()
    )
    assert [row["lf"] for row in report] == [lf.name for lf in generate_lfs(load_taxonomy())]
    assert {"coverage", "overlap", "conflict", "learned_accuracy"} <= set(report[0])
    png = Path(
        client.download_artifacts(result.run_id, "evaluation/calibration.png", str(tmp_path))
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    evaluation = json.loads(
        Path(
            client.download_artifacts(result.run_id, "evaluation/dev.json", str(tmp_path))
        ).read_text()
    )
    assert evaluation["macro_f1"] == result.evaluation["macro_f1"]


def test_model_is_registered_and_champion(trained, client):
    from paperrec.train.registry import TOPICS_MODEL

    _, result, _ = trained
    version = client.get_model_version_by_alias(TOPICS_MODEL, "champion")
    assert str(version.version) == result.version and result.promoted
    assert version.run_id == result.run_id


def test_the_champion_loads_and_scores_papers_without_categories(trained):
    from paperrec.serving.predictor import Predictor
    from paperrec.topics.taxonomy import load_taxonomy

    runtime, _, dev = trained
    predictor = Predictor.load(runtime, ranker=False)
    model = predictor.topic_model
    assert model.topic_ids == load_taxonomy().ids
    assert model.embedding_model_id == runtime.embedder.model_id
    blind = [Paper.create(p.title, p.abstract) for p in dev[:20]]  # no categories
    X = runtime.embedder.embed(blind)
    np.testing.assert_array_equal(
        model.predict_proba(X), model.predict_proba(runtime.embedder.embed(dev[:20]))
    )


def test_evaluation_reports_every_method_per_area(trained):
    _, result, _ = trained
    evaluation = result.evaluation
    assert evaluation["n_papers"] == DEV_PAPERS
    assert set(evaluation["macro_f1"]) == {
        "classifier",
        "majority_vote",
        "zero_shot",
        "ceiling_lightgbm",
        "ceiling_logistic",
        "ceiling",
    }
    macro = evaluation["macro_f1"]
    assert macro["ceiling"] == max(macro["ceiling_lightgbm"], macro["ceiling_logistic"])
    assert evaluation["areas"] and "machine-learning" not in evaluation["areas"]
    for area, row in evaluation["areas"].items():
        assert row["support"] > 0, area
        for method in evaluation["macro_f1"]:
            assert set(row[method]) == {"precision", "recall", "f1"}


def test_every_seed_abstract_gets_a_fine_topic(trained_runtime, seed_pages):
    from paperrec.serving.predictor import Predictor

    predictor = Predictor.load(trained_runtime, ranker=False)
    model = predictor.topic_model
    papers = _seed_papers(seed_pages)
    assert len(papers) == 335
    labels = model.labels(model.predict_proba(trained_runtime.embedder.embed(papers)))
    fine = set(model.taxonomy.fine_ids)
    without = [p.title for p, labs in zip(papers, labels, strict=True) if not fine & set(labs)]
    assert without == [], f"{len(without)} seed papers without a fine topic: {without[:5]}"


def test_a_new_topic_model_is_gated_against_the_champion(trained):
    """Last in this module: it makes the packaged model the champion of the shared home,
    and gives the champion back to the first run's version at the end."""
    from paperrec.topics.default import load_packaged, packaged_meta
    from paperrec.train import registry
    from paperrec.train.packaged import register_packaged
    from paperrec.train.topics_fit import TopicTrainingConfig
    from paperrec.train.topics_run import _decide, train_topics

    runtime, first, dev = trained
    settings = runtime.settings
    packaged = register_packaged(settings, load_packaged(), packaged_meta())
    config = TopicTrainingConfig(classifier=CONFIG)
    try:
        lost = train_topics(runtime, dev_papers=dev, config=config, ceiling=False)
        assert not lost.promoted and not lost.gate.promote
        assert registry.alias_version(settings, registry.TOPICS_MODEL, "champion") == packaged
        assert lost.decision.startswith(f"not promoted, champion v{packaged} stays: worse than")
        tags = next(
            v.tags
            for v in registry.list_versions(settings, registry.TOPICS_MODEL)
            if v.version == lost.version
        )
        assert tags["paperrec.gate"] == "rejected"
        # Without dev papers there is nothing to gate on: registered, not promoted.
        promoted, decision, gate = _decide(settings, lost.model, lost.version, (), None, True)
        assert (promoted, gate) == (False, None)
        assert "pass --dev FILE to gate it, or --no-gate" in decision
        forced = train_topics(runtime, config=config, gated=False)
        assert forced.promoted and "without the gate (--no-gate)" in forced.decision
        assert registry.alias_version(settings, registry.TOPICS_MODEL, "champion") == (
            forced.version
        )
    finally:
        registry.promote(settings, registry.TOPICS_MODEL, first.version)
