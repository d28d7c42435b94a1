"""Fast keyword counting: every taxonomy keyword looked up in one pass over a text.

Texts are lowercased and split into word tokens (hyphenated words stay whole, so
"fine-tuning" and "fine tuning" are different keys and a taxonomy lists both). Each token
and each run of up to ``max_words`` tokens starting at it is looked up in a dictionary from
keyword to topics, so the cost grows with the text, not with the number of keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class KeywordMatcher:
    """Counts keyword hits per topic.

    Parameters
    ----------
    keywords : mapping from topic index to the topic's keywords.
    patterns : mapping from topic index to regexes (case-insensitive), counted as keywords.
    n_topics : number of topics (columns of the count matrix).
    """

    def __init__(
        self,
        keywords: Mapping[int, Iterable[str]],
        patterns: Mapping[int, Iterable[str]],
        n_topics: int,
    ):
        self.n_topics = n_topics
        self.index: dict[tuple[str, ...], list[int]] = {}
        for topic, words in keywords.items():
            for keyword in words:
                key = tuple(tokenize(keyword))
                if key and topic not in self.index.setdefault(key, []):
                    self.index[key].append(topic)
        self.max_words = max((len(k) for k in self.index), default=1)
        self.starts = {k[0] for k in self.index if len(k) > 1}
        self.patterns = [
            (topic, re.compile(p, re.IGNORECASE)) for topic, ps in patterns.items() for p in ps
        ]

    def count(self, text: str) -> np.ndarray:
        """Hits per topic in ``text`` (n_topics,), each keyword occurrence counted once."""
        counts = np.zeros(self.n_topics, dtype=np.int32)
        tokens = tokenize(text)
        index, starts, longest = self.index, self.starts, self.max_words
        for i, token in enumerate(tokens):
            for topic in index.get((token,), ()):
                counts[topic] += 1
            if token in starts:
                for length in range(2, longest + 1):
                    for topic in index.get(tuple(tokens[i : i + length]), ()):
                        counts[topic] += 1
        for topic, pattern in self.patterns:
            counts[topic] += len(pattern.findall(text))
        return counts

    def count_many(self, texts: Iterable[str]) -> np.ndarray:
        """(n_texts, n_topics) hit counts."""
        rows = [self.count(text) for text in texts]
        return np.vstack(rows) if rows else np.zeros((0, self.n_topics), dtype=np.int32)
