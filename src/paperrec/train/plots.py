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
