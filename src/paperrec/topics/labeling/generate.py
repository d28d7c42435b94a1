"""Labeling functions generated from a taxonomy.

For every topic:
- ``kw_title``: a keyword or pattern in the title votes POSITIVE, else abstains.
- ``kw_abstract``: at least ``ABSTRACT_MIN_HITS`` keyword hits in the abstract vote
  POSITIVE, none votes NEGATIVE, one abstains.

Title and abstract are separate functions rather than one score so the label model sees
two views of the text; a third "no keyword anywhere" function would be a deterministic
complement of the others and the label model would learn the keywords, not the topic.
- ``sim``: the paper's embedding is unusually close to the topic description (standardised
  similarity ``z >= SIM_POSITIVE_Z`` and the topic among the paper's ``SIM_TOP_K`` nearest
  descriptions of its level) votes POSITIVE; ``z <= SIM_NEGATIVE_Z`` votes NEGATIVE.
- ``arxiv`` (topics with categories): for papers that carry arXiv categories, a listed
  category votes POSITIVE and none votes NEGATIVE; papers without categories abstain.
"""

from __future__ import annotations

from paperrec.topics.labeling.functions import (
    ABSTAIN,
    NEGATIVE,
    POSITIVE,
    LabelingFunction,
    PaperView,
)
from paperrec.topics.taxonomy import Taxonomy, Topic

ABSTRACT_MIN_HITS = 2
SIM_POSITIVE_Z = 2.0
SIM_NEGATIVE_Z = 0.0
SIM_TOP_K = 2


def _keyword_lfs(index: int, topic: Topic) -> list[LabelingFunction]:
    def in_title(paper: PaperView) -> int:
        return POSITIVE if paper.keyword_title[index] > 0 else ABSTAIN

    def in_abstract(paper: PaperView) -> int:
        hits = paper.keyword_abstract[index]
        if hits >= ABSTRACT_MIN_HITS:
            return POSITIVE
        return NEGATIVE if hits == 0 else ABSTAIN

    return [
        LabelingFunction(f"kw_title:{topic.id}", topic.id, in_title, kind="keyword"),
        LabelingFunction(f"kw_abstract:{topic.id}", topic.id, in_abstract, kind="keyword"),
    ]


def _similarity_lf(index: int, topic: Topic) -> LabelingFunction:
    def similar(paper: PaperView) -> int:
        z = paper.similarity_z[index]
        if z >= SIM_POSITIVE_Z and paper.similarity_rank[index] < SIM_TOP_K:
            return POSITIVE
        if z <= SIM_NEGATIVE_Z:
            return NEGATIVE
        return ABSTAIN

    return LabelingFunction(f"sim:{topic.id}", topic.id, similar, kind="similarity")


def _arxiv_lf(topic: Topic) -> LabelingFunction:
    matches: dict[str, bool] = {}  # a few hundred distinct categories, millions of lookups

    def listed(paper: PaperView) -> int:
        if not paper.categories:
            return ABSTAIN
        for category in paper.categories:
            found = matches.get(category)
            if found is None:
                found = matches[category] = topic.matches_category(category)
            if found:
                return POSITIVE
        return NEGATIVE

    return LabelingFunction(
        f"arxiv:{topic.id}", topic.id, listed, kind="arxiv", uses_categories=True
    )


def generate_lfs(taxonomy: Taxonomy) -> list[LabelingFunction]:
    """All generated labeling functions, topic by topic, in taxonomy order."""
    lfs: list[LabelingFunction] = []
    for index, topic in enumerate(taxonomy.topics):
        if topic.keywords or topic.patterns:
            lfs.extend(_keyword_lfs(index, topic))
        lfs.append(_similarity_lf(index, topic))
        if topic.arxiv:
            lfs.append(_arxiv_lf(topic))
    return lfs
