"""Agreement between two annotation passes over the same papers (multi-label topics).

Each pass is a mapping from paper id to the set of topic ids its annotator chose. Per
topic, the two passes are two raters of a binary label: Cohen's kappa and Krippendorff's
alpha (nominal, two raters, no missing values) say how much they agree beyond chance;
the exact-match share says how often they chose the very same set.

    python -m paperrec.evaluate.agreement PASS1.jsonl PASS2.jsonl
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from paperrec.errors import InputError


def read_labels(path: Path) -> dict[str, list[str]]:
    """``{"id": ..., "topics": [...]}`` per line -> {id: topics}; a bad line is an InputError."""
    labels: dict[str, list[str]] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                paper_id, topics = str(row["id"]), row["topics"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(
                    f'line {number}: expected {{"id": ..., "topics": [...]}} ({exc})',
                    path=str(path),
                ) from None
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                raise InputError(
                    f"line {number}: 'topics' must be a list of topic ids", path=str(path)
                )
            labels[paper_id] = topics
    return labels


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two 0/1 vectors; nan when both raters never vary."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    observed = float((a == b).mean())
    expected = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    return float("nan") if expected >= 1 else float((observed - expected) / (1 - expected))


def krippendorff_alpha(a: np.ndarray, b: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) of two raters over the same units; nan without variation."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    values = np.concatenate([a, b])
    n, ones = len(values), int(values.sum())
    expected = 2 * ones * (n - ones) / (n * (n - 1)) if n > 1 else 0.0
    if expected == 0:
        return float("nan")
    observed = 2 * int((a != b).sum()) / n
    return float(1 - observed / expected)


def agreement(
    first: Mapping[str, Sequence[str]], second: Mapping[str, Sequence[str]], topics: Sequence[str]
) -> dict:
    """Exact-match share, pooled kappa/alpha and per-topic kappa/alpha over the shared ids."""
    ids = sorted(set(first) & set(second))
    if not ids:
        raise InputError("the two passes share no paper ids")
    A = np.array([[t in first[i] for t in topics] for i in ids], dtype=bool)
    B = np.array([[t in second[i] for t in topics] for i in ids], dtype=bool)
    per_topic = {
        t: {
            "first": int(A[:, j].sum()),
            "second": int(B[:, j].sum()),
            "both": int((A[:, j] & B[:, j]).sum()),
            "kappa": cohen_kappa(A[:, j], B[:, j]),
            "alpha": krippendorff_alpha(A[:, j], B[:, j]),
        }
        for j, t in enumerate(topics)
    }
    kappas = [r["kappa"] for r in per_topic.values() if not np.isnan(r["kappa"])]
    return {
        "n_papers": len(ids),
        "only_in_one": len(set(first) ^ set(second)),
        "exact_match": float(np.mean([set(first[i]) == set(second[i]) for i in ids])),
        "disagreements": int(sum(set(first[i]) != set(second[i]) for i in ids)),
        "pooled_kappa": cohen_kappa(A.ravel(), B.ravel()),
        "pooled_alpha": krippendorff_alpha(A.ravel(), B.ravel()),
        "mean_topic_kappa": float(np.mean(kappas)) if kappas else float("nan"),
        "topics": per_topic,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the agreement of two pass files over the shipped taxonomy's fine topics."""
    from paperrec.topics.taxonomy import load_taxonomy

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m paperrec.evaluate.agreement PASS1.jsonl PASS2.jsonl")
        return 2
    result = agreement(read_labels(args[0]), read_labels(args[1]), load_taxonomy().fine_ids)
    print(
        f"{result['n_papers']} papers, exact match {result['exact_match']:.3f} "
        f"({result['disagreements']} disagreements), pooled kappa {result['pooled_kappa']:.3f}, "
        f"pooled alpha {result['pooled_alpha']:.3f}, mean per-topic kappa "
        f"{result['mean_topic_kappa']:.3f}"
    )
    for topic, row in result["topics"].items():
        print(
            f"  {topic:24} {row['first']:3} {row['second']:3} both {row['both']:3} "
            f"kappa {row['kappa']:.3f} alpha {row['alpha']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
