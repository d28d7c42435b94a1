"""Ranking metrics for one query: relevance (0/1) of candidates and their scores."""

from __future__ import annotations

import numpy as np


def _ranked(relevance: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # Stable sort on negated scores: ties keep candidate order, so results are repeatable.
    return np.asarray(relevance)[np.argsort(-np.asarray(scores), kind="stable")]


def ndcg_at_k(relevance: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    ranked = _ranked(relevance, scores)[:k]
    gains = (ranked / np.log2(np.arange(2, len(ranked) + 2))).sum()
    n_relevant = int(np.sum(relevance))
    ideal = (1 / np.log2(np.arange(2, min(n_relevant, k) + 2))).sum()
    return float(gains / ideal) if ideal > 0 else 0.0


def recall_at_k(relevance: np.ndarray, scores: np.ndarray, k: int = 50) -> float:
    total = np.sum(relevance)
    return float(_ranked(relevance, scores)[:k].sum() / total) if total else 0.0


def mrr(relevance: np.ndarray, scores: np.ndarray) -> float:
    hits = np.flatnonzero(_ranked(relevance, scores))
    return float(1 / (hits[0] + 1)) if len(hits) else 0.0


def all_metrics(relevance: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at_k(relevance, scores, 10),
        "recall@50": recall_at_k(relevance, scores, 50),
        "mrr": mrr(relevance, scores),
    }
