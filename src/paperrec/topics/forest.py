"""Every topic's trees as one flat table, scored by a compiled loop instead of LightGBM.

LightGBM's ``predict`` walks one row through one tree at a time, behind ~0.1 ms of checks
per call; the 73 topic boosters of 150 trees cost ~0.4-0.6 ms per paper in a batch and
~0.5 ms for one paper (through `paperrec.topics.merged`). Here the boosters' trees are
read once into arrays (`flatten`) and `paperrec.topics.walk` runs a block of rows through
them, eight rows in step, on one thread per share of the rows.

The margins are LightGBM's bit for bit: the same trees and leaf values (parsed from the
model text, which prints every double exactly), the same test (the float32 feature,
widened, ``<=`` the float64 threshold goes left) and the same sums (a topic's trees in
order, from 0.0). That holds for numerical splits on finite features, which is what
paperrec trains (the classifier rejects NaN and infinity before predicting): `flatten`
returns None for a booster with categorical splits, zero-as-missing splits or linear
trees, and the classifier keeps LightGBM for it.

``with lightgbm_only():`` makes the classifier ignore the flat trees, for tests and for
`bench/train_topics.py`'s side-by-side rows.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from paperrec.topics.derived import derived

PARALLEL_FROM = 64  # rows: fewer run on the calling thread (waking another costs more)
_CATEGORICAL, _MISSING_ZERO = 1, 1  # decision_type bit 0; missing type in bits 2-3
_enabled = contextvars.ContextVar("paperrec_forest", default=True)


@dataclass(frozen=True)
class Forest:
    """Trees of every topic: node arrays (n_nodes), leaf values (n_leaves), per tree its
    root and its topic column (n_trees). A child or root < 0 is the leaf ``~child``."""

    feature: np.ndarray  # int32
    threshold: np.ndarray  # float64
    children: np.ndarray  # int32, (2 * n_nodes): left, right
    leaf: np.ndarray  # float64
    roots: np.ndarray  # int32
    topics: np.ndarray  # int32
    n_topics: int
    n_features: int  # the splits read columns below this

    def margins(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        """Raw margins (n, n_topics) of X (n, dim), finite, on up to ``n_jobs`` threads."""
        from paperrec.topics.walk import margins_into  # numba loads on first use only

        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] < self.n_features:  # the loop does not check bounds
            raise ValueError(f"X must be (n, dim) with dim >= {self.n_features}: {X.shape}")
        out = np.zeros((X.shape[0], self.n_topics))
        shares = min(max(n_jobs, 1), -(-X.shape[0] // PARALLEL_FROM))
        if shares <= 1:
            margins_into(X, self, out)
            return out
        bounds = np.linspace(0, X.shape[0], shares + 1).astype(int)
        with ThreadPoolExecutor(max_workers=shares) as pool:  # the loop releases the GIL
            list(
                pool.map(
                    lambda lo, hi: margins_into(X[lo:hi], self, out[lo:hi]),
                    bounds[:-1],
                    bounds[1:],
                )
            )
        return out


def _column(trees: str, key: str, dtype) -> np.ndarray:
    """The values of every tree's ``key=`` line in model text ``trees``, one after another."""
    lines = re.findall(rf"\n{key}=([^\n]*)", trees)
    parse = float if dtype == np.float64 else int  # both exact: the text has 17 digits
    return np.array(list(map(parse, " ".join(lines).split())), dtype=dtype)


def _walkable(trees: str, decision: np.ndarray) -> bool:
    categorical = (decision & _CATEGORICAL).any()
    zero_missing = ((decision >> 2) & 3 == _MISSING_ZERO).any()
    return not (categorical or zero_missing or re.search(r"\nis_linear=1", trees))


def _booster_arrays(booster: lgb.Booster) -> dict[str, np.ndarray] | None:
    """One booster's trees: node and leaf arrays numbered within the booster."""
    trees = "\n" + booster.model_to_string().split("\nend of trees", 1)[0]
    n_leaves = _column(trees, "num_leaves", np.int64)
    decision = _column(trees, "decision_type", np.int64)
    if not _walkable(trees, decision):
        return None
    n_nodes = n_leaves - 1
    node_start = np.cumsum(n_nodes) - n_nodes  # of each tree, in the booster's table
    leaf_start = np.cumsum(n_leaves) - n_leaves
    children = np.stack(
        [_column(trees, "left_child", np.int64), _column(trees, "right_child", np.int64)], axis=1
    )
    arrays = {
        "feature": _column(trees, "split_feature", np.int64),
        "threshold": _column(trees, "threshold", np.float64),
        "leaf": _column(trees, "leaf_value", np.float64),
    }
    if not len(decision) == len(children) == len(arrays["feature"]) == n_nodes.sum():
        raise ValueError("model text: split lines do not match num_leaves")
    node_of, leaf_of = np.repeat(node_start, n_nodes)[:, None], np.repeat(leaf_start, n_nodes)
    arrays["children"] = np.where(
        children >= 0, children + node_of, ~(~children + leaf_of[:, None])
    )
    arrays["roots"] = np.where(n_nodes > 0, node_start, ~leaf_start)
    return arrays


def flatten(boosters: Sequence[lgb.Booster]) -> Forest | None:
    """The trees of ``boosters`` (topic k's are ``boosters[k]``'s) as one `Forest`; None if
    one has a split the compiled loop does not walk as LightGBM does."""
    parts = []
    nodes = leaves = 0
    for topic, booster in enumerate(boosters):
        arrays = _booster_arrays(booster)
        if arrays is None:
            return None
        # Renumber into the joint table: nodes after the ones before, leaves likewise.
        children, roots = arrays["children"], arrays["roots"]
        arrays["children"] = np.where(children >= 0, children + nodes, ~(~children + leaves))
        arrays["roots"] = np.where(roots >= 0, roots + nodes, ~(~roots + leaves))
        arrays["topics"] = np.full(len(roots), topic)
        nodes += len(arrays["feature"])
        leaves += len(arrays["leaf"])
        parts.append(arrays)
    if not parts:
        return None
    joined = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    floats = ("threshold", "leaf")
    return Forest(
        **{
            name: values.astype(np.float64 if name in floats else np.int32).ravel()
            for name, values in joined.items()
        },
        n_topics=len(boosters),
        n_features=int(joined["feature"].max(initial=-1)) + 1,
    )


def forest_of(owner: object, boosters: Sequence[lgb.Booster]) -> Forest | None:
    """`flatten` of ``boosters``, made once per ``owner`` (the classifier holding them) and
    again after a refit (`paperrec.topics.derived`); None under `lightgbm_only`."""
    if not _enabled.get():
        return None
    return derived(owner, boosters, flatten)


@contextlib.contextmanager
def lightgbm_only() -> Iterator[None]:
    """Inside, classifiers score with LightGBM's own predict (the reference path)."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)
