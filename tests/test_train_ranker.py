"""``train_ranker`` end to end on a copy of the small trained installation, read back from
MLflow with MlflowClient: metrics per protocol and method, the evaluation artifact, the
registered version and its champion alias."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from paperrec.evaluate.ranking import METHODS
from paperrec.recommend.features import FEATURE_NAMES
from paperrec.train import registry
from paperrec.train.ranker import RankerTrainingConfig
from paperrec.train.ranker_pipeline import train_ranker
from paperrec.train.tracking import metric_name

pytestmark = pytest.mark.slow
METRICS = ("ndcg@10", "recall@50", "mrr", "pairwise")


def relocate_mlflow(db, old_home, new_home) -> None:
    """Point every artifact URI in a copied MLflow database at the copy.

    MLflow stores absolute artifact locations; without this, a run in the copy would
    write its artifacts into the original home.
    """
    old, new = old_home.resolve().as_uri(), new_home.resolve().as_uri()
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                    name = f'"{column[1]}"'
                    conn.execute(
                        f'UPDATE "{table}" SET {name} = REPLACE({name}, ?, ?) WHERE {name} LIKE ?',
                        (old, new, f"%{old}%"),
                    )
        locations = [r[0] for r in conn.execute("SELECT artifact_location FROM experiments")]
    assert not any(old in str(location) for location in locations), locations


@pytest.fixture()
def runtime(trained_home, session_cache, tmp_path, monkeypatch):
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    relocate_mlflow(home / "mlflow.sqlite", trained_home, home)
    monkeypatch.setenv("PAPERREC_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rt = Runtime(Settings(home=home))
    rt.embedder = Embedder.from_settings(rt.settings, session_cache)
    return rt


def test_train_ranker_logs_evaluates_and_registers(runtime, seed_pages, tmp_path):
    from mlflow.tracking import MlflowClient

    settings = runtime.settings
    before = registry.champion_version(settings, registry.RANKER_MODEL)
    result = train_ranker(
        runtime, pages=seed_pages, config=RankerTrainingConfig(repeats=1), draws=1
    )

    # the evaluation: every protocol, every method, every metric, mean and spread
    protocols = {"seed_pages", "pool_users", "authors", "authors_one_paper"}
    assert set(result.evaluation) == protocols
    for protocol, evaluation in result.evaluation.items():
        assert evaluation["n_queries"] > 0, protocol
        assert (
            set(evaluation["methods"])
            == set(METHODS)
            == {
                "ranker",
                "arxiv-sanity-lite",
                "tfidf",
                "zotero-arxiv-daily",
                "centroid",
                "max-similarity",
            }
        )
        for method, metrics in evaluation["methods"].items():
            assert set(metrics) == set(METRICS)
            for metric, value in metrics.items():
                assert 0 <= value["mean"] <= 1 and value["std"] >= 0, (protocol, method, metric)
                low, high = value["ci95"]
                assert low <= value["mean"] <= high, (protocol, method, metric)
        versus = evaluation["vs_best_baseline"]["ranker"]
        for metric in METRICS:
            best = versus[metric]["best_baseline"]
            means = {m: evaluation["methods"][m][metric]["mean"] for m in METHODS if m != "ranker"}
            assert means[best] == max(means.values())
            low, high = versus[metric]["ci95"]
            assert low <= versus[metric]["ratio"] <= high
    # the scorer ships only if it beats zotero-arxiv-daily on the author protocol
    authors = result.evaluation["authors"]["methods"]
    beats = all(
        authors["ranker"][m]["mean"] > authors["zotero-arxiv-daily"][m]["mean"]
        for m in ("ndcg@10", "pairwise")
    )
    assert (result.model.scorer == "learned") == beats
    assert result.summary["scorer"] == result.model.scorer
    assert result.evaluation["seed_pages"]["n_queries"] == len(seed_pages)  # one draw per page
    assert set(result.evaluation["seed_pages"]["per_user_ndcg@10"]) == {
        f"page:{p.stem}" for p in seed_pages
    }

    # the run, read back
    client = MlflowClient(tracking_uri=settings.resolved_tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    logged = run.data.metrics
    for protocol, evaluation in result.evaluation.items():
        for method in METHODS:
            for metric in METRICS:
                name = metric_name(f"{protocol}.{method}.{metric}")
                assert logged[name] == pytest.approx(evaluation["methods"][method][metric]["mean"])
        assert metric_name(f"{protocol}.relative_gain_ndcg10") in logged
    assert run.data.params["training.repeats"] == "1"
    assert run.data.params["draws"] == "1"
    artifacts = client.download_artifacts(result.run_id, "evaluation/ranking.json", str(tmp_path))
    with open(artifacts, encoding="utf-8") as handle:
        assert json.load(handle) == json.loads(json.dumps(result.evaluation))
    importance = client.download_artifacts(result.run_id, "features/importance.json", str(tmp_path))
    with open(importance, encoding="utf-8") as handle:
        assert list(json.load(handle)) == list(FEATURE_NAMES)

    # registered and promoted: the new version is the champion
    assert result.promoted and result.version != before
    version = client.get_model_version_by_alias(registry.RANKER_MODEL, registry.CHAMPION)
    assert str(version.version) == result.version
    assert registry.champion_version(settings, registry.RANKER_MODEL) == result.version
    path, fetched = registry.fetch_bundle(settings, registry.RANKER_MODEL)
    assert fetched == result.version and (path / "meta.json").is_file()
