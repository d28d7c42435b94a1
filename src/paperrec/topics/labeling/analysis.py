"""The labeling-function report: coverage, overlap, conflict and, given gold, accuracy.

Overlap and conflict are counted against the other functions of the same topic (each
topic is its own binary task). Definitions follow snorkel's ``LFAnalysis``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperrec.topics.labeling.functions import ABSTAIN, LabelingFunction, lfs_by_topic


def lf_report(
    L: np.ndarray,
    lfs: Sequence[LabelingFunction],
    topics: Sequence[str],
    gold: np.ndarray | None = None,
    learned_accuracy: np.ndarray | None = None,
) -> list[dict]:
    """One row per labeling function.

    Parameters
    ----------
    L : (n_papers, n_lfs) votes.
    lfs : the functions, in L's column order.
    topics : topic ids, in the column order of ``gold``.
    gold : optional (n_papers, n_topics) 0/1 gold labels; rows of -1 mean "unknown".
    learned_accuracy : optional (n_lfs,) accuracies the label model learned.
    """
    columns = lfs_by_topic(lfs, topics)
    topic_index = {t: i for i, t in enumerate(topics)}
    labeled = L != ABSTAIN
    rows = []
    for j, lf in enumerate(lfs):
        siblings = [k for k in columns[lf.topic] if k != j]
        mine = labeled[:, j]
        others = labeled[:, siblings].any(axis=1) if siblings else np.zeros(len(L), bool)
        disagree = (
            ((L[:, siblings] != ABSTAIN) & (L[:, siblings] != L[:, [j]])).any(axis=1)
            if siblings
            else np.zeros(len(L), bool)
        )
        row = {
            "lf": lf.name,
            "topic": lf.topic,
            "kind": lf.kind,
            "coverage": float(mine.mean()) if len(L) else 0.0,
            "overlap": float((mine & others).mean()) if len(L) else 0.0,
            "conflict": float((mine & disagree).mean()) if len(L) else 0.0,
            "positive_share": float((L[mine, j] == 1).mean()) if mine.any() else None,
        }
        if learned_accuracy is not None:
            row["learned_accuracy"] = float(learned_accuracy[j])
        if gold is not None and lf.topic in topic_index:
            truth = gold[:, topic_index[lf.topic]]
            known = mine & (truth >= 0)
            row["empirical_accuracy"] = (
                float((L[known, j] == truth[known]).mean()) if known.any() else None
            )
            row["n_gold"] = int(known.sum())
        rows.append(row)
    return rows
