"""``paperrec retrain`` end to end on the 1,500-paper pool slice (small, fast models):
the first candidate is promoted, runs nest in MLflow, the same seed gives the same
metrics, nothing new exits 0, a model trained on shuffled labels is not promoted, and a
rollback brings the earlier champion back into the predictor the service uses.

Two retrains train the models once each (a minute on 2 idle cores); embeddings come from
the session cache.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.cli.lifecycle import print_gate
from paperrec.config import Settings
from paperrec.evaluate.topics import evaluate_topics
from paperrec.papers.rows import paper_from_fields
from paperrec.recommend.pseudo_users import PseudoUser
from paperrec.runtime import Runtime
from paperrec.serving.admin import metric_history
from paperrec.serving.holder import PredictorHolder
from paperrec.topics.classify import TopicClassifier
from paperrec.train import registry
from paperrec.train.gate import ModelSet, registered_set
from paperrec.train.gate_history import gate_runs
from paperrec.train.ranker_fit import fit_lexical, fit_ranking_model
from paperrec.train.ranker_run import build_corpus, split_pool_users
from paperrec.train.retrain import EXPERIMENT, PAIR_TAG, evaluation_data, gate_and_promote, retrain
from paperrec.train.retrain_config import load_retrain_config
from paperrec.train.stored import corpus
from paperrec.train.tracking import tracked_run
from pool_helpers import SMALL_POOL

pytestmark = pytest.mark.slow

DEV_PAPERS = 300
CONFIG = """\
sources: [pool.jsonl]
pages: []
topics_eval: dev.jsonl
seed: 3
topics: {classifier: {n_estimators: 10, n_jobs: 1}}
ranker: {repeats: 1, ranker: {n_estimators: 30, n_jobs: 1}}
"""


@pytest.fixture(scope="module")
def lifecycle(shared_dir, small_pool, embedder, session_cache, tmp_path_factory):
    """A store with the pool slice and two retrains of it: the first on an empty registry,
    the second forced, with the same data, config and seed."""
    root = tmp_path_factory.mktemp("lifecycle")
    shutil.copyfile(small_pool, root / "pool.jsonl")  # its vectors are in the session cache
    with (shared_dir / "data" / "arxiv_dev.jsonl").open(encoding="utf-8") as source:
        (root / "dev.jsonl").write_text("".join(next(source) for _ in range(DEV_PAPERS)))
    (root / "retrain.yaml").write_text(CONFIG, encoding="utf-8")
    patch = pytest.MonkeyPatch()
    patch.setenv("PAPERREC_HOME", str(root / "home"))
    # the gate of locally trained candidates; the packaged topic model's turn is at the end
    patch.setenv("PAPERREC_PACKAGED_TOPICS", "false")
    for name in ("MLFLOW_TRACKING_URI", "BENTOML_HOME", "PAPERREC_DATABASE_URL"):
        patch.delenv(name, raising=False)
    settings = Settings(home=root / "home")
    runtime = Runtime(settings)
    runtime.embedder = embedder  # the session's model and cache
    config = load_retrain_config(root / "retrain.yaml")
    first = retrain(runtime, config)
    second = retrain(runtime, config, force=True)
    yield SimpleNamespace(
        root=root, settings=settings, runtime=runtime, config=config, first=first, second=second
    )
    patch.undo()


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def aliases(settings, alias: str) -> dict[str, str | None]:
    return {k: registry.alias_version(settings, n, alias) for k, n in registry.MODELS.items()}


def test_first_candidate_is_promoted_when_there_is_no_champion(lifecycle):
    first = lifecycle.first
    assert first.status == "promoted" and first.gate.reason.startswith("no champion yet")
    assert first.ingest.counts.added == SMALL_POOL
    assert first.snapshot.papers == SMALL_POOL and first.snapshot.eval_papers == DEV_PAPERS
    assert first.gate.rows and all(row.champion is None for row in first.gate.rows)
    assert all(row.above_floor for row in first.gate.rows)
    history = registry.champion_history(lifecycle.settings, registry.TOPICS_MODEL)
    assert [p.version for p in history] == [
        first.versions["topics"],
        lifecycle.second.versions["topics"],
    ]


def test_one_parent_run_with_a_child_run_per_stage(lifecycle):
    first, settings = lifecycle.first, lifecycle.settings
    client = registry.tracking_client(settings)
    parent = client.get_run(first.run_id)
    params = parent.data.params
    assert params["retrain.seed"] == "3" and params["gate_tolerance"] == "0.01"
    assert params["snapshot.content_hash"] == first.snapshot.content_hash
    assert params["snapshot.papers"] == str(SMALL_POOL)
    assert params["package_version"] == "0.1.0" and params["git_commit"]
    assert params["config.home"] == str(settings.home)  # the whole Settings, secrets masked
    assert parent.data.tags["paperrec.gate"] == "promoted"
    assert parent.data.metrics["promoted"] == 1.0
    experiment = client.get_experiment_by_name(EXPERIMENT)
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{first.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == [
        "data",
        "gate",
        "train-ranker",
        "train-topics",
    ]
    by_name = {r.info.run_name: r for r in children}
    assert by_name["train-topics"].data.metrics["dev_macro_f1_majority_vote"] >= 0
    assert "pool_users.arxiv-sanity-lite.ndcg_at_10" in by_name["train-ranker"].data.metrics
    assert by_name["gate"].data.params["promote"] == "True"
    for key, name in registry.MODELS.items():
        version = client.get_model_version(name, first.versions[key])
        other = "ranker" if key == "topics" else "topics"
        assert version.tags[PAIR_TAG] == first.versions[other]
        assert version.tags["paperrec.retrain_run"] == first.run_id
        assert version.run_id in {r.info.run_id for r in children}


def test_same_data_config_and_seed_give_the_same_metrics(lifecycle):
    first, second = lifecycle.first, lifecycle.second
    assert second.versions != first.versions  # two trainings, two registered versions
    assert second.snapshot.content_hash == first.snapshot.content_hash
    assert second.topics.evaluation["macro_f1"] == first.topics.evaluation["macro_f1"]
    assert second.ranker.evaluation == first.ranker.evaluation
    assert [r.candidate for r in second.gate.rows] == [r.candidate for r in first.gate.rows]
    # the second run's champion was the first run's candidate: re-evaluated, it scores the same
    assert [r.champion for r in second.gate.rows] == [r.candidate for r in first.gate.rows]
    assert second.status == "promoted"
    assert aliases(lifecycle.settings, registry.CHAMPION) == second.versions


def test_the_gate_history_reads_back_each_retrain_s_table(lifecycle):
    first, second = lifecycle.first, lifecycle.second
    runs = gate_runs(lifecycle.settings)
    assert [r.started for r in runs] == sorted((r.started for r in runs), reverse=True)
    by_candidate = {tuple(sorted(r.candidate.items())): r for r in runs}
    for outcome in (first, second):
        run = by_candidate[tuple(sorted(outcome.versions.items()))]
        assert run.promoted and run.reason == outcome.gate.reason
        assert [(r.model, r.metric, r.candidate, r.champion, r.passed) for r in run.rows] == [
            (r.model, r.metric, r.candidate, r.champion, r.passed) for r in outcome.gate.rows
        ]
    assert by_candidate[tuple(sorted(second.versions.items()))].champion == first.versions
    columns, history = metric_history(runs)  # oldest first, one column per gated metric
    assert "topics macro_f1" in columns and len(history) == len(runs)
    assert history[-1] == (runs[0], {f"{r.model} {r.metric}": r.candidate for r in runs[0].rows})
    assert gate_runs(Settings(home=lifecycle.root / "empty")) == []


def test_the_admin_page_shows_the_last_gate_table_and_the_metric_history(lifecycle):
    from paperrec.serving.admin import AdminView
    from paperrec.web.render import environment
    from paperrec.web.session import Session

    runs = gate_runs(lifecycle.settings)
    columns, history = metric_history(runs)
    view = AdminView([], {}, None, [], runs, {}, [], {"papers": 0, "by_source": {}, "latest": []})
    html = environment.get_template("admin.html").render(
        view=view, columns=columns, history=history, latest=runs[0], path="/admin",
        session=Session("token", admin=True), csrf_field="csrf", message="",
    )  # fmt: skip
    latest_row = next(r for r in runs[0].rows if r.model == "topics")
    assert f"<td>topics</td><td>{latest_row.metric}</td><td>{latest_row.candidate:.3f}</td>" in html
    assert html.count(runs[-1].started.strftime("%Y-%m-%d %H:%M")) >= 1
    assert html.count("<td>promoted</td>") + html.count("<td>rejected</td>") == len(runs)


def test_retrain_with_nothing_new_says_so_and_exits_0(lifecycle):
    # the CLI builds its own runtime: give it the vectors the session cache holds
    with (
        sqlite3.connect(lifecycle.runtime.embedder.cache.path) as source,
        sqlite3.connect(lifecycle.settings.embedding_cache_path) as copy,
    ):
        source.backup(copy)
    before = registry.list_versions(lifecycle.settings, registry.TOPICS_MODEL)
    result = cli("retrain", "--config", str(lifecycle.root / "retrain.yaml"))
    assert result.exit_code == 0, result.output
    assert "nothing new" in result.output and "0 added" in result.output
    assert registry.list_versions(lifecycle.settings, registry.TOPICS_MODEL) == before


def _shuffled_topics(runtime, good):
    """The champion's topic model refitted on its own labels, shuffled across papers."""
    _, X = corpus(runtime)
    labels = good.classifier.predict(X)
    shuffled = labels[np.random.default_rng(0).permutation(len(labels))]
    classifier = TopicClassifier(**good.classifier.get_params()).fit(X, shuffled)
    return replace(good, classifier=classifier)


def _shuffled_ranker(runtime, config, good_topics):
    """A ranker trained on pseudo-users whose papers are drawn at random."""
    papers, X = corpus(runtime)
    training = config.ranker_training()
    lexical = fit_lexical(papers, training)
    data = build_corpus(runtime, good_topics, [], papers, X, lexical)
    users, _ = split_pool_users(data, good_topics)
    rng = np.random.default_rng(0)
    noise = [
        PseudoUser(u.name, rng.choice(data.background, len(u.members), replace=False))
        for u in users
    ]
    model_id = runtime.embedder.model_id
    return fit_ranking_model(
        data, noise, training, model_id, good_topics.topic_ids, lexical=lexical
    )


def _register(settings, model, name: str) -> str:
    with tempfile.TemporaryDirectory() as tmp, tracked_run(settings, "lifecycle-tests", "shuffled"):
        return registry.register_bundle(settings, model.save(Path(tmp) / "bundle"), name)


@pytest.fixture(scope="module")
def shuffled(lifecycle):
    runtime, settings = lifecycle.runtime, lifecycle.settings
    good = registered_set(settings, registry.CHAMPION)
    topics, ranking = (
        _shuffled_topics(runtime, good.topics),
        _shuffled_ranker(runtime, lifecycle.config, good.topics),
    )
    versions = {"topics": _register(settings, topics, registry.TOPICS_MODEL)}
    versions["ranker"] = _register(settings, ranking, registry.RANKER_MODEL)
    return SimpleNamespace(topics=topics, ranking=ranking, versions=versions, good=good)


@pytest.mark.parametrize("which", ["topics", "ranker"])
def test_a_candidate_trained_on_shuffled_labels_is_not_promoted(lifecycle, shuffled, which):
    runtime, settings = lifecycle.runtime, lifecycle.settings
    champions = aliases(settings, registry.CHAMPION)
    if which == "topics":
        candidate = ModelSet(
            topics=shuffled.topics, versions={"topics": shuffled.versions["topics"]}
        )
    else:
        candidate = ModelSet(
            ranking=shuffled.ranking, versions={"ranker": shuffled.versions["ranker"]}
        )
    data = evaluation_data(runtime, _gold(lifecycle), [])
    result = gate_and_promote(runtime, data, candidate, tolerance=0.01)
    assert not result.promote and result.reason.startswith("worse than the champion")
    failed = [row for row in result.rows if not row.passed]
    assert failed and {row.model for row in failed} == {which}
    assert aliases(settings, registry.CHAMPION) == champions  # nothing changed
    info = registry.list_versions(settings, registry.MODELS[which])
    assert (
        next(v for v in info if v.version == shuffled.versions[which]).tags["paperrec.gate"]
        == "rejected"
    )
    if which == "topics":  # the champion was re-evaluated on the candidate's data
        again = evaluate_topics(shuffled.good.topics, data.topic_papers, data.topic_X)
        assert failed[0].champion == again["macro_f1"]["classifier"]


def _gold(lifecycle):
    from paperrec.train.retrain import topic_gold

    return topic_gold(lifecycle.config, lifecycle.runtime.store.papers.iter_papers())


def test_rollback_restores_the_earlier_champion_in_the_serving_predictor(lifecycle, shuffled):
    runtime = lifecycle.runtime
    rows = [
        json.loads(line) for line in (lifecycle.root / "dev.jsonl").read_text().splitlines()[:20]
    ]
    papers = [paper_from_fields(r["id"], r["title"], r["abstract"]) for r in rows]
    holder = PredictorHolder.load(runtime)
    good = holder.versions
    assert {k: good[k] for k in ("topics", "ranker")} == lifecycle.second.versions
    good_rows = holder.score(papers)

    bad = shuffled.versions["topics"]
    result = cli("models", "promote", bad, "--alone")
    assert result.exit_code == 0 and f"topics v{bad} is now the champion" in result.output
    assert holder.refresh().changed and holder.versions["topics"] == bad
    assert holder.score(papers) != good_rows  # a different model answers

    result = cli("models", "rollback")
    assert result.exit_code == 0, result.output
    assert f"topics: champion v{bad} -> v{good['topics']}" in result.output
    assert "ranker" not in result.output  # the ranker was not part of the last promotion
    outcome = holder.refresh()
    assert outcome.changed and holder.versions == good
    assert holder.score(papers) == good_rows


@pytest.fixture(scope="module")
def packaged_champion(lifecycle):
    """The packaged topic model made champion of the lifecycle home (far stronger than its
    10-tree topic models), then a forced retrain."""
    from paperrec.topics.default import load_packaged, packaged_meta
    from paperrec.train.packaged import register_packaged

    settings = lifecycle.settings
    version = register_packaged(settings, load_packaged(), packaged_meta())
    ranker = registry.alias_version(settings, registry.RANKER_MODEL, registry.CHAMPION)
    outcome = retrain(lifecycle.runtime, lifecycle.config, force=True)
    return SimpleNamespace(version=version, ranker=ranker, outcome=outcome)


def test_a_topic_model_worse_than_the_champion_is_set_aside_and_the_ranker_trains_on_the_champion(
    lifecycle, packaged_champion, capsys
):
    settings, outcome = lifecycle.settings, packaged_champion.outcome
    packaged, new = packaged_champion.version, outcome.versions["topics"]
    assert not outcome.topic_gate.promote
    assert outcome.gate.set_aside == {"topics": new} and "topics" not in outcome.gate.candidate
    (topic_row,) = [row for row in outcome.gate.rows if row.model == "topics"]
    assert topic_row.champion > topic_row.candidate + topic_row.tolerance  # shown, not gated
    assert outcome.gate.reason.startswith(
        f"topics v{new} set aside, worse than champion v{packaged} (area macro-F1 "
    )
    assert "so the ranker was trained on the champion's topics and gated alone: " in (
        outcome.gate.reason
    )
    tags = {
        key: next(v.tags for v in registry.list_versions(settings, name) if v.version == version)
        for (key, name), version in zip(
            registry.MODELS.items(), (new, outcome.versions["ranker"]), strict=True
        )
    }
    assert tags["topics"]["paperrec.gate"] == "rejected" and PAIR_TAG not in tags["topics"]
    assert tags["ranker"][PAIR_TAG] == packaged  # trained on the champion's topic features
    assert registry.alias_version(settings, registry.TOPICS_MODEL, registry.CHAMPION) == packaged
    ranker_now = registry.alias_version(settings, registry.RANKER_MODEL, registry.CHAMPION)
    expected = outcome.versions["ranker"] if outcome.gate.promote else packaged_champion.ranker
    assert ranker_now == expected
    print_gate(outcome.gate)
    printed = capsys.readouterr().out
    assert f"topics v{new} set aside" in printed
    if outcome.gate.promote:
        assert f"topics v{packaged} stays champion" in printed
