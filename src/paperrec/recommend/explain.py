"""Reasons for a ranked paper, read off the same numbers the ranker saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from paperrec.schema import Paper

DISLIKE_NOTE_SIMILARITY = 0.45  # a disliked paper this close is worth mentioning
TOPIC_NOTE_PROBABILITY = 0.5


def _shared_terms(
    candidate: sp.csr_matrix, liked_mean: np.ndarray | None, vocabulary: np.ndarray, n: int = 3
) -> list[str]:
    """Terms weighing most in both the candidate (one TF-IDF row) and the liked papers
    (``liked_mean``: their mean TF-IDF row, dense; None without liked papers)."""
    if liked_mean is None or not candidate.nnz:
        return []
    overlap = candidate.data * liked_mean[candidate.indices]
    best = np.argsort(-overlap, kind="stable")[:n]
    return [str(vocabulary[candidate.indices[i]]) for i in best if overlap[i] > 0]


def _nearest(
    papers: Sequence[Paper], X: np.ndarray, vector: np.ndarray, kind: str, text: str
) -> tuple[float, dict]:
    """The reason naming the paper of ``papers`` (rows of ``X``) closest to ``vector``, and
    that paper's cosine."""
    sims = X @ vector
    best = int(np.argmax(sims))
    return float(sims[best]), {
        "kind": kind,
        "paper_id": papers[best].id,
        "title": papers[best].title,
        "similarity": round(float(sims[best]), 3),
        "text": f"{text}: {papers[best].title!r} (cosine {sims[best]:.2f})",
    }


def liked_lexical_mean(liked_lexical: sp.csr_matrix) -> np.ndarray | None:
    """The liked papers' mean TF-IDF row (vocabulary,), once per profile; None if none."""
    if not liked_lexical.shape[0]:
        return None
    return np.asarray(liked_lexical.mean(axis=0)).ravel()


def reasons_for(
    row: int,
    *,
    candidate_X: np.ndarray,
    candidate_lexical: sp.csr_matrix,
    candidate_topics: np.ndarray,
    liked: Sequence[Paper],
    liked_X: np.ndarray,
    liked_lexical_mean: np.ndarray | None,
    disliked: Sequence[Paper],
    disliked_X: np.ndarray,
    topic_ids: Sequence[str],
    chosen_topics: Sequence[str],
    liked_topic_mean: np.ndarray | None,
    vocabulary: np.ndarray,
    candidate_authors: Sequence[str] = (),
    liked_authors: Mapping[str, int] | None = None,
) -> list[dict]:
    """Structured reasons for candidate ``row``; each has ``kind`` and a readable ``text``.

    ``liked_lexical_mean`` is `liked_lexical_mean` of the liked papers' TF-IDF rows.
    ``candidate_authors`` are the candidate's authors and ``liked_authors`` how many liked
    papers each author wrote (the counts the ranker's author features read)."""
    reasons: list[dict] = []
    known = [
        (name, liked_authors[name]) for name in candidate_authors if (liked_authors or {}).get(name)
    ]
    if known:
        known.sort(key=lambda pair: -pair[1])
        reasons.append(
            {
                "kind": "followed_authors",
                "authors": dict(known[:3]),
                "text": "by authors of your papers: "
                + ", ".join(f"{n} ({c} of yours)" for n, c in known[:3]),
            }
        )
    vector = candidate_X[row]
    if len(liked):
        _, reason = _nearest(
            liked, liked_X, vector, "similar_to_liked", "close to a paper you liked"
        )
        reasons.append(reason)
        terms = _shared_terms(candidate_lexical[row], liked_lexical_mean, vocabulary)
        if terms:
            reasons.append(
                {
                    "kind": "shared_terms",
                    "terms": terms,
                    "text": "shares terms with your papers: " + ", ".join(terms),
                }
            )
    if candidate_topics.shape[1]:
        probabilities = candidate_topics[row]
        wanted = set(chosen_topics)
        if liked_topic_mean is not None:
            wanted |= {
                topic_ids[i] for i in np.flatnonzero(liked_topic_mean >= TOPIC_NOTE_PROBABILITY)
            }
        matched = sorted(
            (
                (topic_ids[i], float(p))
                for i, p in enumerate(probabilities)
                if topic_ids[i] in wanted and p >= TOPIC_NOTE_PROBABILITY
            ),
            key=lambda pair: -pair[1],
        )[:3]
        if matched:
            reasons.append(
                {
                    "kind": "matched_topics",
                    "topics": {t: round(p, 3) for t, p in matched},
                    "text": "on your topics: " + ", ".join(f"{t} ({p:.2f})" for t, p in matched),
                }
            )
    if len(disliked):
        similarity, reason = _nearest(
            disliked,
            disliked_X,
            vector,
            "similar_to_disliked",
            "lowered: close to a paper you disliked",
        )
        if similarity >= DISLIKE_NOTE_SIMILARITY:
            reasons.append(reason)
    return reasons
