"""Area-level evaluation of a topic model on papers with arXiv categories.

Gold: a paper is in an area when any of its categories maps to it. Reported side by side,
per area and as macro-F1 over the areas with gold papers (machine-learning and
artificial-intelligence left out: nearly every paper could claim them):
- ``classifier``: the TopicModel from title + abstract embeddings only;
- ``majority_vote``: the raw labeling functions that read text (categories hidden);
- ``zero_shot``: the areas whose description is nearest the paper (within a margin);
- ``ceiling`` (optional): what gold labels of this size buy, 5-fold cross-validation on
  the file's own categories: the stronger (by macro-F1) of the model's own LightGBM
  classifier (``ceiling_lightgbm``) and a class-balanced logistic regression on the
  embeddings (``ceiling_logistic``, C = ``CEILING_C``). Both are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import KFold

from paperrec.schema import Paper
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.labeling import ViewBuilder, apply_lfs, generate_lfs, majority_vote
from paperrec.topics.model import TopicModel

EXCLUDED_FROM_MACRO = ("machine-learning", "artificial-intelligence")
ZERO_SHOT_MARGIN = 0.02
CEILING_C = 4.0
CEILING_FOLDS = 5


def gold_matrix(model: TopicModel, papers: Sequence[Paper]) -> np.ndarray:
    """(n_papers, n_topics) 0/1: topics whose arXiv mapping lists one of the paper's categories."""
    index = {t: i for i, t in enumerate(model.topic_ids)}
    gold = np.zeros((len(papers), len(index)), dtype=np.int8)
    for row, paper in enumerate(papers):
        for topic in model.taxonomy.topics_for_categories(paper.categories):
            gold[row, index[topic]] = 1
    return gold


def zero_shot(model: TopicModel, X: np.ndarray) -> np.ndarray:
    """Areas whose description similarity is within ZERO_SHOT_MARGIN of the paper's best."""
    areas = np.array([i for i, t in enumerate(model.taxonomy.topics) if t.is_area])
    similarity = X @ model.topic_vectors[areas].T
    best = similarity.max(axis=1, keepdims=True)
    out = np.zeros((len(X), len(model.topic_ids)), dtype=np.int8)
    out[:, areas] = similarity >= best - ZERO_SHOT_MARGIN
    return out


def rule_majority(model: TopicModel, papers: Sequence[Paper], X: np.ndarray) -> np.ndarray:
    """Majority vote of the text-reading labeling functions (categories hidden)."""
    views = ViewBuilder.from_stats(
        model.taxonomy, model.topic_vectors, model.view_mean, model.view_scale
    )
    lfs = [lf for lf in generate_lfs(model.taxonomy) if not lf.uses_categories]
    L = apply_lfs(lfs, views.build(papers, X, use_categories=False))
    return (majority_vote(L, lfs, model.topic_ids) > 0.5).astype(np.int8)


def balanced_logistic(X: np.ndarray, Y: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """0/1 predictions (n_test, n_columns) of a class-balanced logistic regression per
    column of Y (n, n_columns); a column without both classes predicts its one class."""
    predicted = np.zeros((len(X_test), Y.shape[1]), dtype=np.int8)
    for t in range(Y.shape[1]):
        if Y[:, t].min() == Y[:, t].max():
            predicted[:, t] = Y[0, t]
            continue
        fitted = LogisticRegression(C=CEILING_C, class_weight="balanced", max_iter=1000)
        predicted[:, t] = fitted.fit(X, Y[:, t]).predict(X_test)
    return predicted


def supervised_ceiling(
    model: TopicModel, X: np.ndarray, gold: np.ndarray, folds: int = CEILING_FOLDS
) -> dict[str, np.ndarray]:
    """Out-of-fold predictions (n, n_topics) of two learners trained on the gold labels:
    ``lightgbm`` (the model's own classifier settings) and ``logistic``."""
    columns = np.flatnonzero(gold.any(axis=0))
    predictions = {name: np.zeros_like(gold) for name in ("lightgbm", "logistic")}
    params = model.classifier.get_params()
    for train, test in KFold(folds, shuffle=True, random_state=0).split(X):
        fitted = TopicClassifier(**params).fit(X[train], gold[train])
        predictions["lightgbm"][test] = fitted.predict(X[test])
        predictions["logistic"][np.ix_(test, columns)] = balanced_logistic(
            X[train], gold[train][:, columns], X[test]
        )
    return predictions


def score_methods(
    topic_ids: Sequence[str],
    gold: np.ndarray,
    methods: Mapping[str, np.ndarray],
    columns: Sequence[int],
) -> tuple[dict, dict]:
    """Per-topic support and precision/recall/F1 of each method, and each method's macro-F1,
    over ``columns`` of the (n, n_topics) 0/1 ``gold`` and predictions."""
    per_method = {}
    for name, predicted in methods.items():
        precision, recall, f1, _ = precision_recall_fscore_support(
            gold[:, columns], predicted[:, columns], average=None, zero_division=0
        )
        per_method[name] = [
            {"precision": float(p), "recall": float(r), "f1": float(f)}
            for p, r, f in zip(precision, recall, f1, strict=True)
        ]
    per_topic = {
        topic_ids[i]: {"support": int(gold[:, i].sum()), **{m: per_method[m][k] for m in methods}}
        for k, i in enumerate(columns)
    }
    macro = {
        m: float(np.mean([s["f1"] for s in scores])) if scores else 0.0
        for m, scores in per_method.items()
    }
    return per_topic, macro


def evaluate_topics(
    model: TopicModel, papers: Sequence[Paper], X: np.ndarray, *, ceiling: bool = False
) -> dict:
    """Per-area precision/recall/F1 and macro-F1 for the classifier and the baselines."""
    gold = gold_matrix(model, papers)
    methods = {
        "classifier": model.classifier.predict(X),
        "majority_vote": rule_majority(model, papers, X),
        "zero_shot": zero_shot(model, X),
    }
    areas = [
        i
        for i, t in enumerate(model.taxonomy.topics)
        if t.is_area and t.arxiv and gold[:, i].any() and t.id not in EXCLUDED_FROM_MACRO
    ]
    if ceiling:
        for name, predicted in supervised_ceiling(model, X, gold).items():
            methods[f"ceiling_{name}"] = predicted
    per_area, macro = score_methods(model.topic_ids, gold, methods, areas)
    if ceiling:  # the stronger of the two learners is the ceiling
        stronger = max(("lightgbm", "logistic"), key=lambda n: macro[f"ceiling_{n}"])
        macro["ceiling"] = macro[f"ceiling_{stronger}"]
        for row in per_area.values():
            row["ceiling"] = row[f"ceiling_{stronger}"]
    return {
        "n_papers": len(papers),
        "n_areas": len(areas),
        "excluded_from_macro": list(EXCLUDED_FROM_MACRO),
        "macro_f1": macro,
        "areas": per_area,
    }
