"""The topic classifier's training run, behind ``paperrec train topics``: the stored papers,
the fit (`paperrec.train.topics_fit`), the evaluation on gold papers, MLflow logging, the
registry and promotion.

Promotion over an existing topics champion goes through the gate `paperrec retrain`
applies to its topic model (`paperrec.train.gate.gate_topics`: area macro-F1 of both on
the dev papers, the candidate no worse than the champion's minus the tolerance); without
dev papers there is nothing to measure both on, so the new version is registered and not
promoted. ``gate=False`` promotes without it and says so."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperrec.evaluate.topics import evaluate_topics, gold_matrix
from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.topics.labeling import LabelingFunction
from paperrec.topics.model import TopicModel
from paperrec.topics.taxonomy import load_taxonomy
from paperrec.train import plots, registry, tracking
from paperrec.train.gate import GATE_TAG, GateResult, ModelSet, gate_topics
from paperrec.train.stored import Progress, corpus
from paperrec.train.topics_fit import TopicTrainingConfig, train_topic_model


@dataclass
class TopicRunResult:
    run_id: str
    version: str
    promoted: bool
    summary: dict
    evaluation: dict | None
    model: TopicModel
    decision: str = ""  # why it was (not) promoted, one line
    gate: GateResult | None = None  # the gate against the champion, when one ran


def _lf_metrics(report: list[dict]) -> dict[str, float]:
    by_kind: dict[str, list[dict]] = {}
    for row in report:
        by_kind.setdefault(row["kind"], []).append(row)
    metrics = {}
    for kind, rows in by_kind.items():
        metrics[f"lf_{kind}_coverage"] = float(np.mean([r["coverage"] for r in rows]))
        metrics[f"lf_{kind}_conflict"] = float(np.mean([r["conflict"] for r in rows]))
    return metrics


def _log_evaluation(
    model, evaluation: dict, dev_papers: Sequence[Paper], dev_X: np.ndarray
) -> None:
    tracking.log_json(evaluation, "evaluation/dev.json")
    tracking.log_metrics({f"dev_macro_f1_{m}": v for m, v in evaluation["macro_f1"].items()})
    figure = plots.precision_recall_bars(evaluation["areas"])
    tracking.log_figure(figure, "evaluation/precision_recall.png")
    plots.close(figure)
    gold = gold_matrix(model, dev_papers)
    areas = [i for i, t in enumerate(model.taxonomy.topics) if t.is_area and gold[:, i].any()]
    probabilities = model.predict_proba(dev_X)[:, areas]
    figure = plots.calibration_plot(gold[:, areas], probabilities)
    tracking.log_figure(figure, "evaluation/calibration.png")
    plots.close(figure)
    names = [model.topic_ids[i] for i in areas]
    figure = plots.reliability_grid(gold[:, areas], probabilities, names)
    tracking.log_figure(figure, "evaluation/reliability_per_area.png")
    plots.close(figure)


def train_topics(
    runtime: Runtime,
    *,
    taxonomy_path: Path | None = None,
    dev_papers: Sequence[Paper] = (),
    config: TopicTrainingConfig | None = None,
    extra_lfs: Sequence[LabelingFunction] = (),
    promote: bool = True,
    progress: Progress = None,
    holdout: Collection[str] = (),
    ceiling: bool = True,
    gated: bool = True,
) -> TopicRunResult:
    """Train on every stored paper but those whose id is in ``holdout``, evaluate on
    ``dev_papers`` if given (with the supervised ``ceiling`` unless turned off), log and
    register; with ``promote``, promote it when there is no champion yet or when it passes
    the gate on ``dev_papers`` (``gated``; False promotes without the gate)."""
    config = config or TopicTrainingConfig()
    taxonomy = load_taxonomy(taxonomy_path)
    papers, X = corpus(runtime, progress)
    if holdout:
        keep = [i for i, paper in enumerate(papers) if paper.id not in holdout]
        papers, X = [papers[i] for i in keep], X[keep]
    settings = runtime.settings
    with tracking.tracked_run(settings, "paperrec-topics", "train-topics") as run:
        taxonomy_params = {"source": taxonomy.source, "sha256": taxonomy.sha256}
        tracking.log_params({"training": config.as_dict(), "taxonomy": taxonomy_params})
        tracking.log_metrics({"n_train_papers": len(papers), "n_holdout_papers": len(holdout)})
        model, labeling = train_topic_model(
            papers, X, taxonomy, runtime.embedder, config, extra_lfs
        )
        tracking.log_json(labeling.report, "labeling/lf_report.json")
        tracking.log_metrics(
            {
                **_lf_metrics(labeling.report),
                **{k: v for k, v in model.summary.items() if isinstance(v, int | float)},
            }
        )
        evaluation, dev_X = None, None
        if dev_papers:
            dev_X = runtime.embedder.embed(dev_papers)
            evaluation = evaluate_topics(model, dev_papers, dev_X, ceiling=ceiling)
            _log_evaluation(model, evaluation, dev_papers, dev_X)
        with tempfile.TemporaryDirectory(dir=settings.ensure_home()) as tmp:
            bundle = model.save(Path(tmp) / "topic-model")
            version = registry.register_bundle(settings, bundle, registry.TOPICS_MODEL)
        promoted, decision, gate = False, "not promoted (--no-promote)", None
        if promote:
            promoted, decision, gate = _decide(settings, model, version, dev_papers, dev_X, gated)
            tracking.log_params({"promotion": decision})
            if gate is not None:
                registry.tag_version(
                    settings,
                    registry.TOPICS_MODEL,
                    version,
                    {GATE_TAG: "promoted" if promoted else "rejected"},
                )
        if promoted:
            registry.promote(settings, registry.TOPICS_MODEL, version)
    return TopicRunResult(
        run.info.run_id, version, promoted, model.summary, evaluation, model, decision, gate
    )


def _decide(
    settings, model: TopicModel, version: str, dev_papers, dev_X, gated: bool
) -> tuple[bool, str, GateResult | None]:
    """Whether the new ``version`` becomes champion, why (one line), and the gate if it ran."""
    champion = registry.alias_version(settings, registry.TOPICS_MODEL, registry.CHAMPION)
    if champion is None:
        return True, "no topics champion yet, the new version is promoted", None
    if not gated:
        return True, f"promoted over champion v{champion} without the gate (--no-gate)", None
    if not dev_papers:
        return (
            False,
            f"not promoted: the gate measures the new version against champion v{champion} "
            "on papers with arXiv categories, and none were given; pass --dev FILE to gate "
            "it, or --no-gate to promote it without the gate",
            None,
        )
    path, _ = registry.fetch_bundle(settings, registry.TOPICS_MODEL, champion)
    gate = gate_topics(
        ModelSet(model, versions={"topics": version}),
        ModelSet(TopicModel.load(path), versions={"topics": champion}),
        dev_papers,
        dev_X,
        settings.gate_tolerance,
    )
    verdict = "promoted" if gate.promote else f"not promoted, champion v{champion} stays"
    return gate.promote, f"{verdict}: {gate.reason}", gate
