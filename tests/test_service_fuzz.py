"""Schemathesis against the served OpenAPI spec: no generated request may get a 5xx.

The server is started with ``paperrec serve`` (so the CLI's happy path runs too) on a copy
of the trained home, with small limits so that boundary cases stay cheap; requests carry an
admin key so the authenticated endpoints are exercised past the key check. It runs twice:
its store on SQLite and on a PostgreSQL copy (one server each, issue 17). Every operation
gets valid and invalid generated requests. Bounded: a few dozen examples per operation and
mode, a per-request timeout and a test timeout.
"""

from __future__ import annotations

import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from service_helpers import Servers

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and generation mode (valid, invalid)
SMALL_LIMITS = {
    "PAPERREC_LIMIT_MAX_PAPERS": "4",
    "PAPERREC_LIMIT_MAX_PROFILE_PAPERS": "4",
    "PAPERREC_LIMIT_MAX_TITLE_CHARS": "300",
    "PAPERREC_LIMIT_MAX_ABSTRACT_CHARS": "2000",
    "PAPERREC_LIMIT_MAX_K": "20",
}


@pytest.fixture(scope="module")
def servers(trained_home, session_cache, tmp_path_factory):
    """Servers started with ``paperrec serve``, one per store engine."""
    running = Servers(
        trained_home, session_cache.path, tmp_path_factory.mktemp("fuzz"),
        command=lambda port: [sys.executable, "-m", "paperrec.cli", "serve", "--port", str(port)],
        prepare=lambda store: {"admin": store.keys.create(None)},
        env={"PAPERREC_RELOAD_INTERVAL": "0", **SMALL_LIMITS},
    )  # fmt: skip
    yield running
    running.close()


@pytest.fixture()
def fuzzed(servers, database, request):
    """(base URL, admin key) of the server on the test's store engine."""
    server, extra = servers.on(database, request)
    return server.url, extra["admin"]


def cases(operation, mode: GenerationMode, examples: int, call) -> None:
    """Run ``call`` on up to ``examples`` generated cases of one operation and mode."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        call(case)

    try:
        run()
    except Unsatisfiable:  # an operation without inputs has no invalid ones
        pass


# schemathesis.pytest.from_fixture cannot run under pytest 9 (it sets Function._nodeid,
# which pytest 9 no longer has), so the operations are walked here with its Python API.
@pytest.mark.both_engines
@pytest.mark.timeout(600)
def test_no_server_errors(fuzzed):
    url, admin = fuzzed
    schema = schemathesis.openapi.from_url(f"{url}/docs.json", timeout=30)
    failures: list[str] = []
    seen: dict[str, int] = {}

    def call(case) -> None:
        try:
            response = case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {admin}"},
                checks=[not_a_server_error],
                timeout=60,
            )
        except Exception as exc:  # a failed check or a hung request
            failures.append(f"{case.operation.label}: {exc}"[:2000])
            raise
        seen[case.operation.label] = seen.get(case.operation.label, 0) + 1
        assert response.status_code < 500

    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /score", "POST /rank", "GET /feedback/{token}"} <= {op.label for op in operations}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                cases(operation, mode, EXAMPLES, call)
            except Exception:
                break  # recorded in failures; hypothesis has shrunk it already
    assert not failures, "\n\n".join(failures)
    assert seen["POST /score"] >= EXAMPLES  # the bodies were really generated and sent
