"""Labeling functions: plain functions of one paper that vote for a topic or abstain.

A vote is POSITIVE (1: the paper is about the topic), NEGATIVE (0: it is not) or ABSTAIN
(-1). Each labeling function belongs to one topic. The taxonomy's functions are generated
(``generate.py``); hand-written ones are plain functions decorated with
``@labeling_function(topic=...)``::

    @labeling_function(topic="alignment")
    def mentions_dpo(paper: PaperView) -> int:
        return POSITIVE if "direct preference optimization" in paper.text_lower else ABSTAIN
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

ABSTAIN, NEGATIVE, POSITIVE = -1, 0, 1


@dataclass(frozen=True)
class PaperView:
    """What a labeling function sees of a paper.

    ``keyword_title`` / ``keyword_abstract`` are hit counts per taxonomy topic (n_topics,);
    ``similarity_z`` is the standardised cosine similarity of the paper's embedding to each
    topic's description (n_topics,); ``categories`` is empty for papers not from arXiv.
    """

    title: str
    abstract: str
    categories: tuple[str, ...]
    keyword_title: np.ndarray
    keyword_abstract: np.ndarray
    similarity_z: np.ndarray
    similarity_rank: np.ndarray = field(repr=False)

    @cached_property
    def text_lower(self) -> str:
        return f"{self.title}\n{self.abstract}".lower()


@dataclass(frozen=True)
class LabelingFunction:
    """A named vote for one topic. ``uses_categories`` marks functions that read arXiv
    categories, which the text-only baselines leave out."""

    name: str
    topic: str
    func: Callable[[PaperView], int]
    kind: str = "custom"
    uses_categories: bool = False

    def __call__(self, paper: PaperView) -> int:
        return self.func(paper)


def labeling_function(topic: str, name: str | None = None, uses_categories: bool = False):
    """Decorator turning ``func(paper: PaperView) -> int`` into a LabelingFunction."""

    def wrap(func: Callable[[PaperView], int]) -> LabelingFunction:
        return LabelingFunction(
            name=name or func.__name__,
            topic=topic,
            func=func,
            kind="custom",
            uses_categories=uses_categories,
        )

    return wrap


def lfs_by_topic(lfs: Sequence[LabelingFunction], topics: Sequence[str]) -> dict[str, list[int]]:
    """Column indices of ``lfs`` for each topic (topics without functions get [])."""
    columns: dict[str, list[int]] = {topic: [] for topic in topics}
    for j, lf in enumerate(lfs):
        columns.setdefault(lf.topic, []).append(j)
    return columns


def load_lf_module(path) -> list[LabelingFunction]:
    """The labeling functions defined at the top level of a Python file (``--lfs FILE``)."""
    import importlib.util
    from pathlib import Path

    from paperrec.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError("no such labeling-function file", path=str(path))
    spec = importlib.util.spec_from_file_location(f"paperrec_user_lfs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any failure is reported, not raised through
        raise InputError(f"cannot import: {type(exc).__name__}: {exc}", path=str(path)) from None
    found = [value for value in vars(module).values() if isinstance(value, LabelingFunction)]
    if not found:
        raise InputError("defines no @labeling_function", path=str(path))
    return found
