"""``train_ranker`` end to end, read back from MLflow with MlflowClient: metrics per
protocol and method, the evaluation artifact, the registered version and its champion
alias. The run checked is the small trained installation's own (tests/conftest.py trains
it once per session); ``evaluate ranker`` trains again, on a copy of that installation."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from home_helpers import copy_home_with_registry
from paperrec.evaluate.ranking import METHODS
from paperrec.recommend.features import FEATURE_NAMES
from paperrec.train import registry
from paperrec.train.tracking import metric_name

pytestmark = pytest.mark.slow
METRICS = ("ndcg@10", "recall@50", "mrr", "pairwise")


@pytest.fixture()
def runtime(trained_home, session_cache, tmp_path, monkeypatch):
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime

    home = copy_home_with_registry(trained_home, tmp_path / "home")
    monkeypatch.setenv("PAPERREC_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rt = Runtime(Settings(home=home))
    rt.embedder = Embedder.from_settings(rt.settings, session_cache)
    return rt


def test_train_ranker_logs_evaluates_and_registers(
    trained_install, seed_pages, tmp_path, monkeypatch
):
    """The installation's ``train_ranker(runtime, pages=seed_pages,
    config=RankerTrainingConfig(repeats=1), draws=1)``, on a home with no ranker before."""

    from paperrec.config import Settings

    # Settings reads MLFLOW_TRACKING_URI: this home's registry, whatever the environment says
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(home=trained_install.home)
    result = trained_install.ranker_run

    # the evaluation: every protocol, every method, every metric, mean and spread
    # the 1,500-paper slice has no researcher with 5 papers: the author protocol (unit
    # tested in test_recommend_authors.py and below) is absent here, the others run
    assert set(result.evaluation) == {"seed_pages", "pool_users"}
    assert result.summary["n_authors"] == 0 and result.model.scorer == "learned"
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
    assert result.evaluation["seed_pages"]["n_queries"] == len(seed_pages)  # one draw per page
    assert set(result.evaluation["seed_pages"]["per_user_ndcg@10"]) == {
        f"page:{p.stem}" for p in seed_pages
    }

    # the run, read back
    client = registry.tracking_client(settings)  # its registry too, not the process's last
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

    # registered and promoted: the new version is the champion, logged by this run
    assert result.promoted and result.version is not None
    assert trained_install.ranker_champion == result.version
    version = client.get_model_version_by_alias(registry.RANKER_MODEL, registry.CHAMPION)
    assert str(version.version) == result.version and version.run_id == result.run_id
    assert registry.champion_version(settings, registry.RANKER_MODEL) == result.version
    path, fetched = registry.fetch_bundle(settings, registry.RANKER_MODEL)
    assert fetched == result.version and (path / "meta.json").is_file()


def test_evaluate_ranker_registers_only_when_asked(runtime, seed_pages, session_cache):
    """Without --register nothing is registered and the output says so (--register passes
    register=True, the default the test above covers)."""
    from typer.testing import CliRunner

    from paperrec.cli import app

    settings = runtime.settings
    with (
        sqlite3.connect(session_cache.path) as source,
        sqlite3.connect(settings.home / "embeddings.sqlite") as copy,
    ):
        source.backup(copy)  # the command's own runtime reads the home's cache
    before = [v.version for v in registry.list_versions(settings, registry.RANKER_MODEL)]
    champion = registry.champion_version(settings, registry.RANKER_MODEL)
    args = ["evaluate", "ranker", "--draws", "1", "--pages", str(seed_pages[0])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "not registered (MLflow run " in result.stdout and "--register" in result.stdout
    assert [v.version for v in registry.list_versions(settings, registry.RANKER_MODEL)] == before
    assert registry.champion_version(settings, registry.RANKER_MODEL) == champion


def _author_result(ranker: dict, **baselines: dict) -> dict:
    methods = {"ranker": ranker, **{k.replace("_", "-"): v for k, v in baselines.items()}}
    return {
        "methods": {
            m: {metric: {"mean": value} for metric, value in values.items()}
            for m, values in methods.items()
        }
    }


def test_the_learned_ranker_ships_only_if_it_beats_zotero_on_both_metrics():
    from paperrec.train.ranker_run import choose_scorer

    zotero = {"ndcg@10": 0.50, "pairwise": 0.86}
    others = {
        "centroid": {"ndcg@10": 0.52, "pairwise": 0.87},
        "max_similarity": {"ndcg@10": 0.55, "pairwise": 0.85},  # better nDCG, worse pairwise
    }
    better = {"ndcg@10": 0.60, "pairwise": 0.90}
    assert choose_scorer(_author_result(better, zotero_arxiv_daily=zotero, **others)) == "learned"
    # worse on one metric: the best fallback that is at least zotero's equal on both
    worse = {"ndcg@10": 0.60, "pairwise": 0.80}
    assert choose_scorer(_author_result(worse, zotero_arxiv_daily=zotero, **others)) == "centroid"
    alone = _author_result(worse, zotero_arxiv_daily=zotero)
    assert choose_scorer(alone) == "zotero-arxiv-daily"


def test_a_fallback_scorer_is_the_baseline_minus_the_dislike_excess(trained_runtime):
    from dataclasses import replace

    from paperrec.recommend.features import FEATURE_NAMES
    from paperrec.train.ranker_run import load_ranking_model

    model = replace(load_ranking_model(trained_runtime), scorer="zotero-arxiv-daily")
    rows = np.full((3, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    column = {name: i for i, name in enumerate(FEATURE_NAMES)}
    rows[:, column["sim_zotero"]] = [0.5, 0.4, 0.3]
    rows[:, column["sim_max"]] = [0.6, 0.6, 0.6]
    rows[:, column["dis_max"]] = [np.nan, 0.9, 0.1]
    np.testing.assert_allclose(model.score_features(rows), [0.5, 0.1, 0.3], atol=1e-6)
    with pytest.raises(Exception, match="unknown ranking scorer 'nope'; available: learned"):
        replace(model, scorer="nope")


def test_the_gate_refuses_a_ranker_below_zotero_whatever_the_champion():
    from paperrec.train.gate import GateResult, Row

    below = Row("ranker", "authors.ndcg@10", 0.50, None, 0.01, "centroid", 0.55, floor=0.52)
    above = Row("ranker", "authors.pairwise", 0.90, None, 0.01, "tfidf", 0.88, floor=0.86)
    assert not below.passed and not below.above_floor and above.passed
    gate = GateResult([below, above], {"ranker": "2"}, {}, 0.01)
    assert not gate.promote
    assert gate.reason == "worse than zotero-arxiv-daily: ranker authors.ndcg@10 0.500 vs 0.520"
    # a champion it beats does not lift the floor
    beaten = Row("ranker", "authors.ndcg@10", 0.50, 0.40, 0.01, "centroid", 0.55, floor=0.52)
    assert not beaten.passed
