"""PredictorHolder's reload rules and memo with a fake loader (the real server: test_service)."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

from paperrec.errors import ModelNotTrainedError
from paperrec.papers.rows import paper_from_fields
from paperrec.serving.holder import PredictorHolder


class FakeTopics:
    def __init__(self, broken: bool = False):
        self.broken = broken

    def predict_proba(self, X):
        if self.broken:
            raise ValueError("corrupt booster")
        return np.zeros((len(X), 2))


class FakePredictor:
    """What the holder touches: topic_model, ranking_model, versions, recommender, score."""

    def __init__(self, versions, broken_topics=False):
        self.topic_model = FakeTopics(broken_topics)
        self.ranking_model = None
        self.versions = dict(versions)
        self.scored = 0

    def recommender(self):
        if self.ranking_model is None:
            raise ModelNotTrainedError("no ranking model loaded")
        return object()

    def score(self, papers):
        self.scored += len(papers)
        return [
            {"id": p.id, "topics": {"a": 0.5}, "labels": ["a"], "thresholds": {"a": 0.3}}
            for p in papers
        ]


class Registry:
    """Champion versions the test sets, and which versions fail to load."""

    def __init__(self):
        self.champions = {"topics": "1", "ranker": "1"}
        self.broken: set[tuple[str, str]] = set()
        self.loads = 0

    def load(self, runtime, *, topics=True, ranker=True):
        self.loads += 1
        if topics:
            version = self.champions["topics"]
            if ("topics", version) in self.broken:
                raise OSError(f"cannot read topics v{version}")
            predictor = FakePredictor({"topics": version, "embedding_model": "m"})
        else:
            predictor = FakePredictor({"embedding_model": "m"})
        if ranker:
            version = self.champions["ranker"]
            if ("ranker", version) in self.broken:
                raise OSError(f"cannot read ranker v{version}")
            predictor.ranking_model = f"ranker {version}"
            predictor.versions["ranker"] = version
        return predictor


@pytest.fixture()
def registry(monkeypatch):
    fake = Registry()
    monkeypatch.setattr(PredictorHolder, "champions", lambda self: dict(fake.champions))
    return fake


def fake_runtime(concurrent_calls: bool = False):
    embedder = types.SimpleNamespace(
        encode_texts=lambda texts: np.zeros((len(texts), 384)), concurrent_calls=concurrent_calls
    )
    return types.SimpleNamespace(embedder=embedder)


@pytest.fixture()
def runtime():
    return fake_runtime()


def test_new_champion_is_swapped_in(registry, runtime):
    holder = PredictorHolder.load(runtime, loader=registry.load)
    assert holder.versions == {"topics": "1", "ranker": "1", "embedding_model": "m"}
    assert holder.refresh().changed is False
    registry.champions["topics"] = "2"
    outcome = holder.refresh()
    assert outcome.changed and outcome.versions["topics"] == "2" and outcome.error is None
    assert holder.predictor.ranking_model == "ranker 1"


def test_broken_champion_keeps_the_old_predictor_and_is_not_retried(registry, runtime):
    holder = PredictorHolder.load(runtime, loader=registry.load)
    old = holder.predictor
    registry.champions["topics"] = "2"
    registry.broken.add(("topics", "2"))
    outcome = holder.refresh()
    assert not outcome.changed and holder.predictor is old
    assert "topics v2" in outcome.error and "still serving topics v1" in outcome.error
    loads = registry.loads
    assert holder.refresh().error == outcome.error and registry.loads == loads  # not retried
    holder.refresh(force=True)
    assert registry.loads > loads  # a forced reload tries again
    registry.champions["topics"] = "3"  # a new champion clears the failure
    assert holder.refresh().changed and holder.last_error is None


def test_model_that_loads_but_cannot_predict_is_refused(registry, runtime):
    holder = PredictorHolder.load(runtime, loader=registry.load)
    registry.champions["topics"] = "2"
    holder.loader = lambda rt, **kw: FakePredictor({"topics": "2"}, broken_topics=True)
    assert "corrupt booster" in holder.refresh().error
    assert holder.versions["topics"] == "1"


def test_broken_ranker_leaves_scoring_up(registry, runtime):
    registry.broken.add(("ranker", "1"))
    holder = PredictorHolder.load(runtime, loader=registry.load)
    assert "ranker" not in holder.versions and "ranker v1" in holder.last_error
    with pytest.raises(ModelNotTrainedError):
        holder.predictor.recommender()
    registry.champions["ranker"] = "2"
    assert holder.refresh().versions["ranker"] == "2" and holder.last_error is None
    registry.champions["ranker"] = "3"
    registry.broken.add(("ranker", "3"))
    outcome = holder.refresh()  # the ranker in use stays
    assert outcome.versions["ranker"] == "2" and "ranker v3" in outcome.error


def test_repeated_abstracts_are_scored_once_per_topic_model(registry, runtime):
    holder = PredictorHolder.load(runtime, loader=registry.load)
    papers = [paper_from_fields(str(i), f"Title {i}", "An abstract.") for i in range(3)]
    first = holder.score(papers)
    again = holder.score([paper_from_fields("other id", "Title 1", "An abstract."), *papers])
    assert holder.predictor.scored == 3
    assert [r["id"] for r in again] == ["other id", "0", "1", "2"]
    assert again[1:] == first  # every key of a scored row, recalled from memory
    assert again[0] == {**first[1], "id": "other id"}
    assert holder.recall(papers[:1])[0] == first[0]
    registry.champions["topics"] = "2"
    holder.refresh()
    assert holder.recall(papers) == [None, None, None]  # rows of the old model are not reused


@pytest.mark.parametrize("concurrent_calls", [False, True])
def test_score_waits_for_the_model_lock_unless_the_encoder_takes_concurrent_calls(
    registry, concurrent_calls
):
    holder = PredictorHolder.load(fake_runtime(concurrent_calls), loader=registry.load)
    assert holder.score_lanes == (2 if concurrent_calls else 1)
    papers = [paper_from_fields("1", "Title", "An abstract.")]
    done = threading.Event()
    with holder.using():  # another model call (a ranking's encode, the web app) is running
        worker = threading.Thread(target=lambda: (holder.score(papers), done.set()))
        worker.start()
        # with OpenVINO's streams the two calls share the cores; otherwise /score waits
        assert done.wait(5) is concurrent_calls
    worker.join(5)
    assert done.is_set() and holder.predictor.scored == 1
