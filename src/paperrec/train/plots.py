"""Figures logged with training runs (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402


def precision_recall_bars(per_area: dict, method: str = "classifier"):
    """Per-area precision and recall of one method, as horizontal bars."""
    names = list(per_area)
    precision = [per_area[n][method]["precision"] for n in names]
    recall = [per_area[n][method]["recall"] for n in names]
    figure, axis = plt.subplots(figsize=(8, 0.28 * len(names) + 1.5))
    y = np.arange(len(names))
    axis.barh(y - 0.2, precision, height=0.4, label="precision")
    axis.barh(y + 0.2, recall, height=0.4, label="recall")
    axis.set_yticks(y, names, fontsize=8)
    axis.set_xlim(0, 1)
    axis.invert_yaxis()
    axis.legend(loc="lower right")
    axis.set_title(f"{method}: precision and recall per area")
    figure.tight_layout()
    return figure


def calibration_plot(gold: np.ndarray, probabilities: np.ndarray, bins: int = 10):
    """Reliability diagram pooled over topics: predicted probability vs observed rate."""
    observed, predicted = calibration_curve(
        gold.ravel(), probabilities.ravel(), n_bins=bins, strategy="quantile"
    )
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    axis.plot(predicted, observed, "o-", label="classifier")
    axis.set_xlabel("predicted probability")
    axis.set_ylabel("observed share on topic")
    axis.legend()
    axis.set_title("calibration (pooled over topics)")
    figure.tight_layout()
    return figure


def close(figure) -> None:
    plt.close(figure)


def reliability_grid(gold: np.ndarray, probabilities: np.ndarray, names, bins: int = 10):
    """One reliability diagram per topic: mean predicted probability vs observed share in
    ``bins`` equal-width probability bins; each point is labelled with its paper count
    (bins with no paper are left out). ``gold`` and ``probabilities`` are (n, n_topics)."""
    names = list(names)
    columns = 6
    rows = max(1, -(-len(names) // columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.6 * rows), sharex=True, sharey=True
    )
    edges = np.linspace(0, 1, bins + 1)
    for k, axis in enumerate(np.atleast_1d(axes).ravel()):
        if k >= len(names):
            axis.axis("off")
            continue
        which = np.clip(np.digitize(probabilities[:, k], edges[1:-1]), 0, bins - 1)
        counts = np.bincount(which, minlength=bins)
        used = counts > 0
        predicted = np.bincount(which, probabilities[:, k], bins)[used] / counts[used]
        observed = np.bincount(which, gold[:, k].astype(float), bins)[used] / counts[used]
        axis.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
        axis.plot(predicted, observed, "o-", markersize=3)
        for x, y, n in zip(predicted, observed, counts[used], strict=True):
            axis.annotate(str(n), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        axis.set_title(f"{names[k]} ({int(gold[:, k].sum())})", fontsize=8)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
    figure.supxlabel("predicted probability")
    figure.supylabel("observed share with the topic")
    figure.tight_layout()
    return figure
