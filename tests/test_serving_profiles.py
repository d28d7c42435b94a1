"""Users' profiles kept between requests (paperrec.serving.profiles, read_profile): every
read equals a read from scratch, whatever was stored since, and rankings follow each vote."""

from __future__ import annotations

import pytest

from paperrec.errors import NotFoundError
from paperrec.schema import Paper
from paperrec.serving.profiles import ProfileCache
from paperrec.users.profiles import add_user, delete_user, record_feedback
from paperrec.users.ranking_profile import read_profile, user_profile

ABSTRACT = "We study {topic} with a simple method and report results on several benchmarks."


def paper(pid: str | None, title: str) -> Paper:
    return Paper.create(title, ABSTRACT.format(topic=title.lower()), id=pid)


@pytest.fixture()
def stocked(store):
    store.papers.upsert([paper(f"2401.0000{i}", f"Paper number {i}") for i in range(1, 8)], "jsonl")
    add_user(store, "ada", "ada@example.org", "nlp", seeds=["2401.00001"])
    return store


def same_as_from_scratch(store, cache: ProfileCache, name: str = "ada"):
    state = cache.read(store, name)
    assert state.profile == user_profile(store, name)
    voted = [*state.profile.liked_ids, *state.profile.disliked, *state.profile.dismissed]
    assert state.papers_of(voted) == store.papers.get_many(voted)
    return state


def test_a_kept_profile_follows_every_vote_and_shown_paper(stocked):
    cache = ProfileCache()
    first = same_as_from_scratch(stocked, cache)
    assert cache.read(stocked, "ada") is first  # nothing stored since: nothing read again
    record_feedback(stocked, "ada", "2401.00002", "up")
    record_feedback(stocked, "ada", "2401.00003v1", "down")
    state = same_as_from_scratch(stocked, cache)
    assert state.profile.liked_ids == ("2401.00001", "2401.00002")
    assert state.profile.disliked == ("2401.00003",)
    record_feedback(stocked, "ada", "2401.00002", "dismissed")  # a changed vote
    record_feedback(stocked, "ada", "2401.00001", "down")
    state = same_as_from_scratch(stocked, cache)
    assert state.profile.liked_ids == ()
    assert state.profile.disliked == ("2401.00001", "2401.00003")
    stocked.users.mark_shown("ada", ["2401.00004"])
    assert same_as_from_scratch(stocked, cache).profile.shown == {"2401.00004"}
    stocked.users.set_topics("ada", ["ml"])
    assert same_as_from_scratch(stocked, cache).profile.topics == ("ml",)


def test_a_re_keyed_paper_or_a_re_created_user_is_read_again(stocked):
    cache = ProfileCache()
    untitled = paper(None, "Graph Networks for Molecules")
    stocked.papers.upsert([untitled], "hf-page")
    record_feedback(stocked, "ada", untitled.id, "up")
    stocked.users.mark_shown("ada", [untitled.id])
    assert untitled.id in same_as_from_scratch(stocked, cache).profile.liked_ids
    stocked.papers.upsert([paper("2401.00009", "Graph Networks for Molecules")], "jsonl")
    state = same_as_from_scratch(stocked, cache)
    assert state.profile.liked_ids == ("2401.00001", "2401.00009")
    assert state.profile.shown == {"2401.00009"}
    delete_user(stocked, "ada")
    with pytest.raises(NotFoundError, match="unknown user 'ada'"):
        cache.read(stocked, "ada")
    assert len(cache) == 0
    add_user(stocked, "ada", "ada@example.org", seeds=["2401.00005"])
    assert same_as_from_scratch(stocked, cache).profile.liked_ids == ("2401.00005",)


def test_an_earlier_state_is_brought_up_to_date_by_reading_only_what_is_new(stocked):
    from sqlalchemy import event

    kept = read_profile(stocked, "ada")
    record_feedback(stocked, "ada", "2401.00002", "saved")
    statements: list[str] = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(stocked.engine, "before_cursor_execute", listener)
    try:
        state = read_profile(stocked, "ada", kept)
        again = read_profile(stocked, "ada", state)
    finally:
        event.remove(stocked.engine, "before_cursor_execute", listener)
    assert again is state
    assert state.profile == user_profile(stocked, "ada")
    # the stamp, the events after the kept ones, their paper; then the stamp alone
    assert len(statements) == 4
    assert "feedback.id >" in statements[1]


def test_the_cache_is_bounded(stocked):
    for name in ("bo", "cy"):
        add_user(stocked, name, f"{name}@example.org", seeds=["2401.00002"])
    cache = ProfileCache(size=2)
    for name in ("ada", "bo", "cy"):
        cache.read(stocked, name)
    assert len(cache) == 2
    nothing_kept = ProfileCache(size=0)
    nothing_kept.read(stocked, "ada")
    assert len(nothing_kept) == 0


def test_rankings_follow_each_vote_as_from_scratch(trained_home, session_cache, tmp_path):
    """The service's predictor (profiles, paper arrays and the window kept in memory) ranks
    the window's unseen papers exactly as ranking them from scratch does, after each vote,
    each shown list, enough rated shown papers to adapt the order to the user, and a paper
    stored into the window."""
    import datetime as dt

    from digest_helpers import copy_trained_home
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime
    from paperrec.serving.predictor import Predictor

    settings = Settings(home=copy_trained_home(trained_home, session_cache, tmp_path / "home"))
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)
    store = runtime.store
    stored = [p.id for p in store.papers.iter_papers() if p.date is not None]
    add_user(store, "kept", "k@example.org", seeds=[",".join(stored[:20])])
    serving = Predictor.load(runtime)
    serving.memo_rows, serving.profiles = 10_000, ProfileCache()
    fresh = Predictor.load(runtime)

    def window() -> list[Paper]:
        end = store.papers.latest_date()
        return store.papers.iter_papers(since=end - dt.timedelta(days=6), until=end)

    def both(mark_shown: bool = False) -> list:
        profile = user_profile(store, "kept")
        unseen = [p for p in window() if p.id not in profile.seen_ids]
        expected = fresh.rank_profile(profile, unseen, k=5)
        got = serving.recommend("kept", k=5, mark_shown=mark_shown)
        assert [(r.id, r.score) for r in got] == [(r.id, r.score) for r in expected]
        return got

    top = both()[0].id
    for signal in ("up", "down", "dismissed"):
        record_feedback(store, "kept", top, signal)
        after = both()
        assert top not in [r.id for r in after]  # a rated paper is never recommended again
        top = after[0].id
    shown = both(mark_shown=True)
    assert not {r.id for r in shown} & {r.id for r in both()}
    # Enough rated shown papers of both kinds: the order is adapted to the user, with
    # scores standardised over the unseen candidates only.
    rated = [p.id for p in window()][:30]
    store.users.mark_shown("kept", rated)
    for n, paper_id in enumerate(rated):
        record_feedback(store, "kept", paper_id, "up" if n % 3 else "down")
    both()
    # A paper stored into the window since is a candidate at once (the service keeps the
    # window's prepared papers only while none of them is written again).
    liked = store.papers.get_many(stored[:1])[0]
    twin = Paper.create(
        liked.title + " revisited",
        liked.abstract + " We revisit it.",
        date=store.papers.latest_date(),
    )
    store.papers.upsert([twin], "jsonl")
    assert twin.id in [r.id for r in both()]
