"""The topic boosters as one LightGBM model, for scoring a few papers in one call.

Each topic has a binary booster of its own (`paperrec.topics.boost`), and LightGBM's
``predict`` costs ~0.1 ms per call before any tree is read: one paper through 73 boosters
took 8 ms, mostly that. LightGBM's multiclass models already hold K sums of trees in one
model (class k sums trees k, K + k, 2K + k, ...), and a raw multiclass score is such a sum,
as a binary booster's raw score is the sum of its trees. `merge` writes the topic boosters
into that layout, a topic with fewer trees padded with trees that output 0, so one
``predict(raw_score=True)`` returns every topic's margin, equal to the per-topic ones
(bit for bit: the same trees, summed in the same order). One paper: 1.3 ms instead of 8.

For many rows the per-topic calls are faster (one booster's trees stay in the CPU cache
while its rows go through them; 1,000 papers took 0.7 s per topic and 1.6 s merged), so
`paperrec.topics.classify` uses the merged model below a few rows only, and only for
boosters that `paperrec.topics.forest`'s flat trees (faster still) cannot walk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import lightgbm as lgb

from paperrec.topics.derived import derived

# A tree with one leaf whose value is 0: pads a topic that stopped boosting early.
_ZERO_TREE = (
    "num_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\n"
    "left_child=\nright_child=\nleaf_value=0\nleaf_weight=0\nleaf_count=0\n"
    "internal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n"
)


def _trees(model: str) -> tuple[str, list[str]]:
    """(header, tree bodies without their ``Tree=i`` line) of a saved LightGBM model."""
    header, rest = model.split("\nTree=", 1)
    trees = rest.split("\nend of trees", 1)[0].split("\nTree=")
    return header, [tree.split("\n", 1)[1].strip("\n") + "\n" for tree in trees]


def merge(boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """One multiclass-layout Booster whose raw score k is ``boosters[k]``'s raw score."""
    parts = [_trees(booster.model_to_string()) for booster in boosters]
    k = len(parts)
    rounds = max(len(trees) for _, trees in parts)
    header = parts[0][0]
    for key, value in (
        ("num_class", str(k)),
        ("num_tree_per_iteration", str(k)),
        ("objective", f"multiclass num_class:{k}"),
    ):
        header = re.sub(rf"\n{key}=[^\n]*", f"\n{key}={value}", header)
    header = re.sub(r"\ntree_sizes=[^\n]*", "", header)  # sizes of the old trees
    blocks = [header.rstrip("\n") + "\n"]
    for index in range(rounds * k):
        trees = parts[index % k][1]
        body = trees[index // k] if index // k < len(trees) else _ZERO_TREE
        blocks.append(f"\nTree={index}\n{body}")
    return lgb.Booster(model_str="".join(blocks) + "\nend of trees\n")


def merged(owner: object, boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """`merge` of ``boosters``, made once per ``owner`` (the classifier holding them) and
    made again if the owner holds other boosters since (`paperrec.topics.derived`)."""
    return derived(owner, boosters, merge)
