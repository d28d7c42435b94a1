"""Weak supervision: define labeling functions, apply them, combine their votes.

Defining lives in ``functions.py`` (the contract and the decorator) and ``generate.py``
(functions built from the taxonomy); applying in ``apply.py``; combining in ``model.py``
and ``combine.py``; the report in ``analysis.py``.
"""

from paperrec.topics.labeling.analysis import lf_report
from paperrec.topics.labeling.apply import ViewBuilder, apply_lfs
from paperrec.topics.labeling.combine import (
    WeakLabels,
    combine,
    majority_vote,
    with_anchor_positives,
)
from paperrec.topics.labeling.functions import (
    ABSTAIN,
    NEGATIVE,
    POSITIVE,
    LabelingFunction,
    PaperView,
    labeling_function,
)
from paperrec.topics.labeling.generate import generate_lfs
from paperrec.topics.labeling.model import LabelModel, MajorityVote

__all__ = [
    "ABSTAIN",
    "NEGATIVE",
    "POSITIVE",
    "LabelModel",
    "LabelingFunction",
    "MajorityVote",
    "PaperView",
    "ViewBuilder",
    "WeakLabels",
    "apply_lfs",
    "combine",
    "generate_lfs",
    "labeling_function",
    "lf_report",
    "majority_vote",
    "with_anchor_positives",
]
