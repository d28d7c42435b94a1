"""Agreement between annotation passes: kappa and alpha against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paperrec.errors import InputError
from paperrec.evaluate.agreement import agreement, cohen_kappa, krippendorff_alpha, read_labels


def test_kappa_and_alpha_match_hand_computation():
    a = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    b = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
    # observed 0.8; expected 0.3*0.3 + 0.7*0.7 = 0.58 -> (0.8-0.58)/0.42
    assert cohen_kappa(a, b) == pytest.approx(0.22 / 0.42)
    # alpha: 20 values, 6 ones; D_o = 2*2/20 = 0.2; D_e = 2*6*14/(20*19) -> 1 - D_o/D_e
    assert krippendorff_alpha(a, b) == pytest.approx(1 - 0.2 / (2 * 6 * 14 / 380))
    assert cohen_kappa(a, a) == 1.0 and krippendorff_alpha(a, a) == 1.0
    assert np.isnan(cohen_kappa(np.zeros(5), np.zeros(5)))


def test_agreement_over_passes():
    first = {"p1": ["rag"], "p2": [], "p3": ["rag", "agents"], "p4": ["agents"]}
    second = {"p1": ["rag"], "p2": ["agents"], "p3": ["rag", "agents"], "p4": ["agents"]}
    result = agreement(first, second, ["rag", "agents"])
    assert result["n_papers"] == 4
    assert result["exact_match"] == 0.75 and result["disagreements"] == 1
    assert result["topics"]["rag"]["kappa"] == 1.0
    assert result["topics"]["agents"] == {
        "first": 2,
        "second": 3,
        "both": 2,
        "kappa": pytest.approx(cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))),
        "alpha": pytest.approx(krippendorff_alpha(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))),
    }


def test_read_labels_names_the_bad_line(tmp_path):
    path = tmp_path / "pass.jsonl"
    path.write_text(json.dumps({"id": "a", "topics": ["rag"]}) + '\n{"id": "b"}\n')
    with pytest.raises(InputError, match=r"pass.jsonl: line 2: expected"):
        read_labels(path)
    path.write_text(json.dumps({"id": "a", "topics": "rag"}) + "\n")
    with pytest.raises(InputError, match="must be a list"):
        read_labels(path)
