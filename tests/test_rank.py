"""Ranking with the trained champion models: cold start, dislikes, exclusions, reasons.

Uses the session's small trained installation (``trained_runtime``): seed pages and 1,500
pool papers, a topic model and a ranker. A seed page stands for one researcher: a few of
its papers are the profile, the rest hide among pool papers.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from paperrec.errors import InputError
from paperrec.papers.rows import InputPaper
from paperrec.papers.sources import Problem, read_path
from paperrec.schema import Paper
from paperrec.serving.predictor import Predictor

N_POOL = 180


@pytest.fixture()
def predictor(trained_runtime) -> Predictor:
    return Predictor.load(trained_runtime)


@pytest.fixture()
def recommender(predictor):
    return predictor.recommender()


@pytest.fixture(scope="module")
def pages(seed_pages) -> list[list[Paper]]:
    return [[r for r in read_path(p, "hf-page") if not isinstance(r, Problem)] for p in seed_pages]


@pytest.fixture()
def pool(trained_runtime, pages) -> list[Paper]:
    """Pool papers (none of them on a seed page), a fixed random sample."""
    on_pages = {p.title_key for page in pages for p in page}
    papers = [
        p
        for p in trained_runtime.store.papers.iter_papers(source="jsonl")
        if p.title_key not in on_pages
    ]
    rng = np.random.default_rng(0)
    return [papers[i] for i in rng.choice(len(papers), N_POOL, replace=False)]


def near_duplicate(paper: Paper, id: str) -> Paper:
    """The same paper reworded a little: a different text, nearly the same vector."""
    return Paper.create(
        paper.title + " (extended version)", paper.abstract + " We add experiments.", id=id
    )


def test_cold_start_from_three_seed_papers(recommender, pages, pool):
    page = pages[0]
    liked, same_page = page[:3], page[3:23]
    ranked = recommender.rank(liked, same_page + pool, k=10)
    assert [r.rank for r in ranked] == list(range(1, 11))
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(r.reasons and all("kind" in x and x["text"] for x in r.reasons) for r in ranked)
    assert not {r.id for r in ranked} & {p.id for p in liked}
    # 20 papers of the same page among 200: a random ranking puts 1 in the top 10
    hits = sum(r.id in {p.id for p in same_page} for r in ranked)
    assert hits >= 6, [r.title for r in ranked]


def test_cold_start_from_topics_alone(recommender, trained_runtime, pool, pages):
    topic = "reinforcement-learning"
    candidates = pages[0][:20] + pool
    ranked = recommender.rank([], candidates, topics=[topic], k=10)
    assert len(ranked) == 10
    X = trained_runtime.embedder.embed(candidates)
    column = recommender.topic_ids.index(topic)
    probabilities = dict(
        zip([p.id for p in candidates], recommender._topics(X)[:, column], strict=True)
    )
    top = np.mean([probabilities[r.id] for r in ranked])
    assert top > 2 * np.mean(list(probabilities.values()))  # the chosen topic leads
    matched = [
        next((x["topics"] for x in r.reasons if x["kind"] == "matched_topics"), {}) for r in ranked
    ]
    assert topic in matched[0]
    assert sum(topic in m for m in matched) >= len(ranked) / 2


def test_cold_start_needs_known_topics_or_papers(recommender, pool):
    with pytest.raises(
        InputError, match=r"unknown topic\(s\) no-such-topic; available: .*reinforcement-learning"
    ):
        recommender.rank([], pool, topics=["no-such-topic"])
    with pytest.raises(InputError, match="at least one liked paper or one chosen topic"):
        recommender.rank([], pool)


def with_disliked_copies(recommender, pages, pool):
    """The three best same-page candidates, each ranked without and then with a near copy
    of itself disliked: (paper, before, after) with RankedPaper before and after."""
    liked, same_page = pages[1][:5], pages[1][5:25]
    candidates = same_page + pool
    before = {r.id: r for r in recommender.rank(liked, candidates, k=len(candidates))}
    out = []
    for target in sorted(same_page, key=lambda p: before[p.id].rank)[:3]:
        disliked = [near_duplicate(target, id="disliked-copy")]
        after = recommender.rank(liked, candidates, disliked=disliked, k=len(candidates))
        out.append((target, before[target.id], next(r for r in after if r.id == target.id)))
    return out


def test_a_disliked_near_duplicate_lowers_a_candidates_score(recommender, pages, pool):
    for target, before, after in with_disliked_copies(recommender, pages, pool):
        assert after.score < before.score, target.title
        lowered = next(x for x in after.reasons if x["kind"] == "similar_to_disliked")
        assert lowered["paper_id"] == "disliked-copy" and lowered["similarity"] > 0.9
        assert lowered["text"].startswith("lowered: ")


def test_a_disliked_near_duplicate_pushes_a_candidate_down(recommender, pages, pool):
    for target, before, after in with_disliked_copies(recommender, pages, pool):
        assert after.rank > before.rank, target.title


def test_candidates_in_the_profile_are_left_out(recommender, pages, pool):
    liked, disliked = pages[2][:4], [pages[3][0]]
    same_text = Paper.create(liked[0].title, liked[0].abstract, id="another-id-same-text")
    candidates = [*liked, *disliked, same_text, *pool[:30]]
    ranked = recommender.rank(liked, candidates, disliked=disliked, k=len(candidates))
    assert {r.id for r in ranked} == {p.id for p in pool[:30]}


def test_reasons_are_truthful(recommender, trained_runtime, pages, pool):
    liked = pages[4][:6]
    candidates = pages[4][6:20] + pool
    ranked = recommender.rank(liked, candidates, k=10)
    embed = trained_runtime.embedder.embed
    liked_X = embed(liked)
    by_id = {p.id: p for p in candidates}
    seen_kinds = set()
    for r in ranked:
        paper = by_id[r.id]
        vector = embed([paper])[0]
        kinds = {x["kind"]: x for x in r.reasons}
        seen_kinds |= set(kinds)
        nearest = kinds["similar_to_liked"]
        sims = liked_X @ vector
        assert nearest["paper_id"] == liked[int(np.argmax(sims))].id
        assert nearest["similarity"] == pytest.approx(float(sims.max()), abs=1e-3)
        assert nearest["title"] in nearest["text"]
        if "matched_topics" in kinds:
            probabilities = recommender.topic_model.predict_proba(vector[None, :])[0]
            for topic, p in kinds["matched_topics"]["topics"].items():
                assert p == pytest.approx(
                    float(probabilities[recommender.topic_ids.index(topic)]), abs=1e-3
                )
                assert p >= 0.5
        if "shared_terms" in kinds:
            words = set(re.findall(r"[a-z0-9_\-]+", paper.text.lower()))
            liked_words = set(re.findall(r"[a-z0-9_\-]+", " ".join(p.text for p in liked).lower()))
            for term in kinds["shared_terms"]["terms"]:
                assert set(term.split()) <= words & liked_words, term
        assert "similar_to_disliked" not in kinds  # nothing was disliked
    assert {"similar_to_liked", "shared_terms", "matched_topics"} <= seen_kinds


def rows(papers: list[Paper], ids: list[str]) -> list[InputPaper]:
    return [InputPaper(i, p) for i, p in zip(ids, papers, strict=True)]


def test_predictor_rank_echoes_the_callers_ids(predictor, pages, pool):
    candidates = pool[:25]
    ids = [f"my/{i:02d}" for i in range(24)] + ["2401.00001v2"]
    ranked = predictor.rank(rows(pages[0][:3], ["a", "b", "c"]), rows(candidates, ids), k=5)
    assert len(ranked) == 5 and {r["id"] for r in ranked} <= set(ids)
    assert all(set(r) == {"id", "score", "rank", "reasons"} for r in ranked)
    everything = predictor.rank(rows(pages[0][:3], ["a", "b", "c"]), rows(candidates, ids), k=1000)
    assert sorted(r["id"] for r in everything) == sorted(ids)  # k beyond the candidates: all
    assert [r["rank"] for r in everything] == list(range(1, 26))


@pytest.mark.parametrize("k", [0, -3])
def test_bad_k_is_an_input_error(predictor, recommender, pages, pool, k):
    with pytest.raises(InputError, match="k must be at least 1"):
        predictor.rank(rows(pages[0][:3], ["a", "b", "c"]), rows(pool[:5], list("vwxyz")), k=k)
    with pytest.raises(InputError, match="k must be at least 1"):
        recommender.rank(pages[0][:3], pool[:5], k=k)


def test_no_candidates_is_an_input_error(predictor, pages):
    with pytest.raises(InputError, match="no candidates"):
        predictor.rank(rows(pages[0][:3], ["a", "b", "c"]), [])


def test_batch_scores_equal_one_profile_at_a_time(recommender, pages, pool, monkeypatch):
    import paperrec.recommend.rank as rank_module

    prepared = recommender.prepare(pool)
    profiles = [
        recommender.profile(page[:n])[0] for page, n in zip(pages, (3, 5, 8, 10, 12), strict=False)
    ]
    model = recommender.model

    def one(profile):
        return model.score(profile, prepared.arrays)

    expected = np.vstack([one(p) for p in profiles])
    monkeypatch.setattr(rank_module, "ROWS_PER_RANKER_CALL", 2 * len(pool))  # two profiles a call
    batch = recommender.score_profiles(profiles, prepared)
    assert batch.shape == (len(profiles), len(pool))
    # float32 features summed by BLAS on one thread (batch) or several (one profile)
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        recommender.score_candidates(profiles[0], prepared), expected[0], rtol=1e-5, atol=1e-5
    )
