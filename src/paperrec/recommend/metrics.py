"""Ranking metrics for one query: relevance (0/1 or graded) of candidates and their scores,
and bootstrap intervals over queries."""

from __future__ import annotations

import numpy as np


def _ranked(relevance: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # Stable sort on negated scores: ties keep candidate order, so results are repeatable.
    return np.asarray(relevance)[np.argsort(-np.asarray(scores), kind="stable")]


def ndcg_at_k(relevance: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """Linear gains (the relevance grade itself), normalised by the best possible order."""
    ranked = _ranked(relevance, scores)[:k]
    discounts = 1 / np.log2(np.arange(2, k + 2))
    gains = (ranked * discounts[: len(ranked)]).sum()
    best = np.sort(np.asarray(relevance, float))[::-1][:k]
    ideal = (best * discounts[: len(best)]).sum()
    return float(gains / ideal) if ideal > 0 else 0.0


def recall_at_k(relevance: np.ndarray, scores: np.ndarray, k: int = 50) -> float:
    """Share of the relevant candidates (any grade above 0) in the top ``k``."""
    hits = np.asarray(relevance) > 0
    total = hits.sum()
    return float(_ranked(hits, scores)[:k].sum() / total) if total else 0.0


def mrr(relevance: np.ndarray, scores: np.ndarray) -> float:
    hits = np.flatnonzero(_ranked(relevance, scores))
    return float(1 / (hits[0] + 1)) if len(hits) else 0.0


def pairwise_accuracy(relevance: np.ndarray, scores: np.ndarray) -> float:
    """Share of candidate pairs of different relevance that the scores put in the right
    order (ties count half): the area under the ROC curve for 0/1 relevance."""
    relevance, scores = np.asarray(relevance, float), np.asarray(scores, float)
    right = total = 0.0
    for grade in np.unique(relevance)[1:]:
        above, below = scores[relevance == grade], scores[relevance < grade]
        if not len(above) or not len(below):
            continue
        # rank-sum: for each higher-graded score, how many lower-graded scores it beats
        ordered = np.sort(below)
        beats = np.searchsorted(ordered, above, side="left")
        ties = np.searchsorted(ordered, above, side="right") - beats
        right += float(beats.sum() + 0.5 * ties.sum())
        total += len(above) * len(below)
    return right / total if total else 0.0


METRICS = ("ndcg@10", "recall@50", "mrr", "pairwise")


def all_metrics(relevance: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at_k(relevance, scores, 10),
        "recall@50": recall_at_k(relevance, scores, 50),
        "mrr": mrr(relevance, scores),
        "pairwise": pairwise_accuracy(relevance, scores),
    }


def mean_interval(values, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean over queries."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return (float(values.mean()), float(values.mean())) if len(values) else (0.0, 0.0)
    draws = np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))
    means = values[draws].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def ratio_interval(ours, theirs, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """mean(ours) / mean(theirs) over the same queries, with a paired 95 % bootstrap
    interval (the same resampled queries on both sides)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    ratio = float(ours.mean() / theirs.mean()) if theirs.mean() > 0 else float("inf")
    if len(ours) < 2:
        return ratio, ratio, ratio
    draws = np.random.default_rng(seed).integers(0, len(ours), (n_boot, len(ours)))
    ratios = ours[draws].mean(axis=1) / np.maximum(theirs[draws].mean(axis=1), 1e-12)
    return ratio, float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))
