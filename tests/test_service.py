"""The HTTP service, end to end: a real ``bentoml serve`` on 127.0.0.1 and a free port.

The server runs on a copy of the shared trained home, so the tests may add users, record
feedback and promote new model versions. /score and /rank answers are compared with the
CLI's on the same rows and the same models; every bad input must give a 4xx JSON error.
Tests marked ``both_engines`` (bad input, keys, votes, digest links) run on a second server
too, whose store is a PostgreSQL copy of the home's (issue 17); each server starts once.
"""

from __future__ import annotations

import json
import shutil
import threading
import time

import httpx
import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.config import Limits
from service_helpers import TOKEN_SECRET, Servers

pytestmark = pytest.mark.slow

LIMITS = Limits()
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def servers(trained_home, session_cache, tmp_path_factory):
    """The module's servers, one per store engine, each started when a test first needs it."""
    from paperrec.serving.process import serve_command

    running = Servers(
        trained_home, session_cache.path, tmp_path_factory.mktemp("service"),
        command=lambda port: serve_command("127.0.0.1", port), prepare=users_and_keys,
        env={"PAPERREC_RELOAD_INTERVAL": "1", "PAPERREC_LIMIT_IDLE_SECONDS": "5"},
    )  # fmt: skip
    yield running
    running.close()


def users_and_keys(store) -> dict:
    """Users ada and bob with a few liked papers, their API keys and an admin's."""
    from paperrec.users.profiles import add_user

    stored = [p.id for p in store.papers.iter_papers() if p.date is not None]
    add_user(store, "ada", "ada@example.org", seeds=[",".join(stored[:3])])
    add_user(store, "bob", "bob@example.org", seeds=[stored[3]])
    keys = {"ada": store.keys.create("ada"), "bob": store.keys.create("bob")}
    keys["admin"] = store.keys.create(None)
    return {"keys": keys, "paper_ids": stored}


@pytest.fixture()
def service(servers, database, request):
    """The running server on the test's store engine (SQLite; tests marked
    ``both_engines`` also on PostgreSQL) plus what the tests need: its home, store, users
    and keys."""
    server, extra = servers.on(database, request)
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        yield {"client": client, **extra}


@pytest.fixture(scope="module")
def rows(shared_dir) -> list[dict]:
    """id, title and abstract of the first arXiv dev papers (not in the trained store)."""
    out = []
    with (shared_dir / "data" / "arxiv_dev.jsonl").open(encoding="utf-8") as handle:
        for line, _ in zip(handle, range(60), strict=False):
            row = json.loads(line)
            out.append({k: row[k] for k in ("id", "title", "abstract")})
    return out


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def cli(home, monkeypatch, *args: str):
    monkeypatch.setenv("PAPERREC_HOME", str(home))
    for name in ("MLFLOW_TRACKING_URI", "BENTOML_HOME", "PAPERREC_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- probes ------------------------------------------------------------------------------
@pytest.mark.both_engines
def test_health_and_readiness_with_versions(service):
    client = service["client"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["reload_error"] is None
    assert set(body["versions"]) == {"topics", "ranker", "embedding_model"}
    # the encoder in use: the suite runs torch (tests/conftest.py)
    assert body["embedding"]["backend"] == "torch"
    assert body["embedding"]["cache_id"] == body["versions"]["embedding_model"]


# -- answers equal the CLI's -------------------------------------------------------------
def test_score_equals_cli(service, rows, tmp_path, monkeypatch):
    papers = rows[:20]
    response = service["client"].post("/score", json={"papers": papers})
    assert response.status_code == 200, response.text
    served = response.json()["results"]
    out = tmp_path / "scored.jsonl"
    cli(
        service["home"],
        monkeypatch,
        "score",
        write_jsonl(tmp_path / "in.jsonl", papers),
        "-o",
        str(out),
    )
    assert served == read_jsonl(out)
    assert [r["id"] for r in served] == [p["id"] for p in papers]


def test_rank_equals_cli(service, rows, tmp_path, monkeypatch):
    liked, disliked, candidates = rows[20:24], rows[24:26], rows[26:56]
    body = {"liked": liked, "disliked": disliked, "candidates": candidates, "k": 10}
    response = service["client"].post("/rank", json=body)
    assert response.status_code == 200, response.text
    served = response.json()["results"]
    out = tmp_path / "ranked.jsonl"
    cli(
        service["home"], monkeypatch, "rank",
        "--profile", write_jsonl(tmp_path / "liked.jsonl", liked),
        "--disliked", write_jsonl(tmp_path / "disliked.jsonl", disliked),
        "--candidates", write_jsonl(tmp_path / "candidates.jsonl", candidates),
        "-k", "10", "-o", str(out),
    )  # fmt: skip
    assert served == read_jsonl(out)
    assert [r["rank"] for r in served] == list(range(1, 11))


def batch_totals(client) -> tuple[float, float]:
    """(requests, encodes) of /score's batcher, from the service's metrics."""
    totals = {"paperrec_score_batched_requests_total": 0.0, "paperrec_score_batches_total": 0.0}
    for line in client.get("/metrics").text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return tuple(totals.values())


def test_concurrent_requests_share_batches_and_get_their_own_rows(service, rows):
    client = service["client"]
    requests_before, batches_before = batch_totals(client)
    results: dict[int, dict] = {}

    def one(i: int) -> None:
        row = {**rows[i], "title": rows[i]["title"] + " (concurrent)"}
        answer = client.post("/score", json={"papers": [row]})
        results[i] = answer.json() if answer.status_code == 200 else {"status": answer.status_code}

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(results) == list(range(16))
    assert all(results[i]["results"][0]["id"] == rows[i]["id"] for i in range(16)), results
    requests_after, batches_after = batch_totals(client)
    batched, batches = requests_after - requests_before, batches_after - batches_before
    assert batched == 16  # every fresh abstract went through the batcher
    assert batches < batched  # and some of them shared one encode


# -- bad input: 4xx JSON that says what is wrong -----------------------------------------
PAPER = {"title": "A title", "abstract": "An abstract about transformers."}
BAD_BODIES = [
    ("/score", {"papers": []}, 400, "at least 1"),
    ("/score", {}, 400, "Field required"),
    ("/score", {"papers": [{"title": "only a title"}]}, 400, "abstract"),
    ("/score", {"papers": "not a list"}, 400, "valid array"),
    ("/score", {"papers": [{"title": 7, "abstract": "text"}]}, 400, "valid string"),
    ("/score", {"papers": [{"title": " \u001c\t ", "abstract": "text"}]}, 400, "title is empty"),
    ("/score", {"papers": [{**PAPER, "date": "yesterday"}]}, 400, "date"),
    ("/rank", {"candidates": [PAPER]}, 400, "at least one liked paper or one chosen topic"),
    ("/rank", {"liked": [PAPER], "candidates": []}, 400, "at least 1"),
    ("/rank", {"liked": [PAPER], "candidates": [PAPER], "k": 0}, 400, "greater than or equal to 1"),
    (
        "/rank",
        {"liked": [PAPER], "candidates": [PAPER], "k": LIMITS.max_k + 1},
        400,
        str(LIMITS.max_k),
    ),
    ("/rank", {"candidates": [PAPER], "topics": ["no-such-topic"]}, 400, "unknown topic"),
    (
        "/rank",
        {"liked": [PAPER] * LIMITS.max_profile_papers, "disliked": [PAPER], "candidates": [PAPER]},
        400,
        str(LIMITS.max_profile_papers),
    ),
    ("/recommend", {"k": 5}, 400, "user"),
    ("/feedback", {"user": "ada", "paper_id": "x", "signal": "meh"}, 400, "'up'"),
]


@pytest.mark.both_engines
@pytest.mark.parametrize(("path", "body", "status", "says"), BAD_BODIES)
def test_bad_json_bodies(service, path, body, status, says):
    response = service["client"].post(path, json=body)
    assert response.status_code == status, response.text
    data = response.json()
    assert "error" in data
    assert says in json.dumps(data), data


@pytest.mark.both_engines
@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b'{"papers": [{"title": "\xff\xfe", "abstract": "a"}]}', {}, 400, "Invalid JSON"),
        (b'{"papers": [', {}, 400, "Invalid JSON"),
        (
            b"papers=1",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "application/json",
        ),
        (b"", {}, 400, "Field required"),
    ],
)
def test_bad_bytes(service, content, headers, status, says):
    headers = {"content-type": "application/json", **headers}
    response = service["client"].post("/score", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert says in response.json()["error"] + json.dumps(response.json().get("detail", ""))


@pytest.mark.both_engines
def test_unknown_route_and_method_are_json(service):
    client = service["client"]
    missing = client.get("/no-such-thing")
    assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"]
    wrong = client.get("/score")
    assert wrong.status_code == 405 and "method not allowed" in wrong.json()["error"]


@pytest.mark.both_engines
def test_huge_requests_are_refused_quickly_and_the_worker_lives_on(service, rows):
    client = service["client"]
    start = time.monotonic()
    long_abstract = {"title": "Long", "abstract": "word " * 2_000_000}  # 10 MB
    response = client.post("/score", json={"papers": [long_abstract]})
    assert response.status_code == 400
    assert str(LIMITS.max_abstract_chars) in json.dumps(response.json())
    many = [{"id": str(i), **rows[i % len(rows)]} for i in range(10_000)]  # about 13 MB
    response = client.post("/score", json={"papers": many})
    assert response.status_code == 400
    assert str(LIMITS.max_papers) in json.dumps(response.json())
    oversized = (
        b'{"papers": [{"title": "t", "abstract": "'
        + b"x" * (LIMITS.max_request_bytes + 1024)
        + b'"}]}'
    )
    response = client.post(
        "/score", content=oversized, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert str(LIMITS.max_request_bytes) in response.json()["error"]
    assert time.monotonic() - start < TIMEOUT
    assert client.get("/healthz", timeout=5).status_code == 200
    after = client.post("/score", json={"papers": [rows[0]]}, timeout=30)
    assert after.status_code == 200, after.text


def test_long_abstract_within_limits_is_scored(service, rows):
    """Text beyond the model's sequence length is cut deterministically: same answer twice."""
    paper = {"id": "long", "title": rows[0]["title"], "abstract": (rows[0]["abstract"] + " ") * 60}
    paper["abstract"] = paper["abstract"][: LIMITS.max_abstract_chars]
    first = service["client"].post("/score", json={"papers": [paper]})
    second = service["client"].post("/score", json={"papers": [paper]})
    assert first.status_code == 200 and first.json() == second.json()


# -- auth --------------------------------------------------------------------------------
@pytest.mark.both_engines
def test_recommend_needs_a_key_of_the_user_or_an_admin(service):
    client, keys = service["client"], service["keys"]
    body = {"user": "ada", "k": 3, "mark_shown": False}
    missing = client.post("/recommend", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in missing.json()["error"]
    unknown = client.post("/recommend", json=body, headers=bearer("prk_not-a-key"))
    assert unknown.status_code == 401 and "unknown API key" in unknown.json()["error"]
    other = client.post("/recommend", json=body, headers=bearer(keys["bob"]))
    assert other.status_code == 403 and "does not belong to user 'ada'" in other.json()["error"]
    for key in (keys["ada"], keys["admin"]):
        ok = client.post("/recommend", json=body, headers=bearer(key))
        assert ok.status_code == 200, ok.text
        results = ok.json()["results"]
        assert len(results) == 3 and all(r["title"] and r["reasons"] for r in results)
    nobody = client.post(
        "/recommend", json={**body, "user": "nobody"}, headers=bearer(keys["admin"])
    )
    assert nobody.status_code == 404 and "unknown user 'nobody'" in nobody.json()["error"]
    assert "ada" not in nobody.json()["error"] and "bob" not in nobody.json()["error"]


@pytest.mark.both_engines
def test_feedback_with_api_key(service):
    client, keys = service["client"], service["keys"]
    paper = service["paper_ids"][10]
    body = {"user": "ada", "paper_id": paper, "signal": "up"}
    assert client.post("/feedback", json=body).status_code == 401
    assert client.post("/feedback", json=body, headers=bearer(keys["bob"])).status_code == 403
    ok = client.post("/feedback", json=body, headers=bearer(keys["ada"]))
    assert ok.status_code == 200, ok.text
    assert ok.json()["source"] == "http" and ok.json()["paper_id"] == paper
    store = service["store"]  # the server's own store: SQLite, or PostgreSQL
    stored = [(e.paper_id, e.signal.value, e.source.value) for e in store.users.feedback("ada")]
    assert stored.count((paper, "up", "http")) == 1
    assert store.keys.of("ada")[0].last_used_at is not None
    gone = client.post(
        "/feedback", json={**body, "paper_id": "9999.99999"}, headers=bearer(keys["ada"])
    )
    assert gone.status_code == 404 and "unknown paper" in gone.json()["error"]


@pytest.mark.both_engines
def test_a_vote_is_seen_by_the_next_recommendation(service):
    """The service keeps each user's profile between requests; a vote must reach it."""
    client, key = service["client"], service["keys"]["bob"]
    body = {"user": "bob", "k": 5, "mark_shown": False}
    before = client.post("/recommend", json=body, headers=bearer(key))
    assert before.status_code == 200, before.text
    top = before.json()["results"][0]["id"]
    again = client.post("/recommend", json=body, headers=bearer(key)).json()["results"]
    assert [r["id"] for r in again] == [r["id"] for r in before.json()["results"]]
    vote = {"user": "bob", "paper_id": top, "signal": "dismissed"}
    assert client.post("/feedback", json=vote, headers=bearer(key)).status_code == 200
    after = client.post("/recommend", json=body, headers=bearer(key))
    assert after.status_code == 200 and len(after.json()["results"]) == 5
    assert top not in [r["id"] for r in after.json()["results"]]


@pytest.mark.both_engines
def test_reload_needs_an_admin_key(service):
    client, keys = service["client"], service["keys"]
    assert client.post("/reload", json={}).status_code == 401
    user = client.post("/reload", json={}, headers=bearer(keys["ada"]))
    assert user.status_code == 403 and "admin" in user.json()["error"]


# -- hardening (issue 13) ----------------------------------------------------------------
@pytest.mark.both_engines
def test_the_batching_core_is_not_reachable_from_outside(service, rows):
    # Batching happens inside /score (serving/batcher.py); there is no batch endpoint to
    # send 10,000 unbounded papers to (issue 13, item 3).
    client = service["client"]
    papers = [{"title": f"{r['title']} batch", "abstract": r["abstract"]} for r in rows[:3]]
    for body in (papers, {"papers": papers}, [papers[0]] * 5000):
        outside = client.post("/score_batch", json=body)
        assert outside.status_code == 404, outside.text
    too_many = client.post("/score", json={"papers": [papers[0]] * (LIMITS.max_papers + 1)})
    assert too_many.status_code == 400 and str(LIMITS.max_papers) in too_many.text
    inside = client.post("/score", json={"papers": papers})
    assert inside.status_code == 200 and len(inside.json()["results"]) == 3


@pytest.mark.both_engines
@pytest.mark.parametrize(
    "body, says",
    [
        ({"user": "ada", "k": True}, "k"),
        ({"user": "ada", "k": "5"}, "k"),
        ({"user": "ada", "k": 3.0}, "k"),
        ({"user": "ada", "mark_shown": "yes"}, "mark_shown"),
        ({"user": "ada", "mark_shown": 1}, "mark_shown"),
        ({"user": "a\nb"}, "user name"),
        ({"user": "a/b"}, "user name"),
        ({"user": "x" * 65}, "user name"),
    ],
)
def test_recommend_types_are_strict_and_names_follow_the_one_rule(service, body, says):
    answer = service["client"].post(
        "/recommend", json=body, headers=bearer(service["keys"]["admin"])
    )
    assert answer.status_code == 400 and says in answer.text, answer.text


@pytest.mark.both_engines
@pytest.mark.parametrize("abstract", ["\u200b\u200b\u200b", "\x00", "\ufeff \u2060 \x00"])
def test_invisible_abstracts_are_refused(service, abstract):
    answer = service["client"].post(
        "/score", json={"papers": [{"title": "A title", "abstract": abstract}]}
    )
    assert answer.status_code == 400 and "abstract" in answer.text, answer.text


def test_stalled_connections_are_closed(service):
    """Connections that send nothing, or half a request line, are closed after the idle
    limit (5 s here); a request whose body stalls gets a 408."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(str(service["client"].base_url))
    address = (url.hostname, url.port)
    stalled = [socket.create_connection(address, timeout=30) for _ in range(10)]
    stalled[0].sendall(b"GET /healthz HT")
    body = socket.create_connection(address, timeout=30)
    body.sendall(
        b"POST /score HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n{"papers": ['
    )
    started = time.monotonic()
    for sock in stalled:
        assert sock.recv(100) == b""  # closed by the server
    assert time.monotonic() - started < 25
    assert b" 408 " in body.recv(4096).split(b"\r\n")[0] + b" "
    for sock in (*stalled, body):
        sock.close()
    assert service["client"].get("/healthz").status_code == 200


# -- digest links ------------------------------------------------------------------------
@pytest.mark.both_engines
def test_digest_link_get_only_asks_and_post_votes(service):
    """Mail scanners fetch every link: a GET must never vote (issue 13, item 2)."""
    from paperrec.users.tokens import make_token

    client, store = service["client"], service["store"]
    paper = service["paper_ids"][11]
    ada = store.users.get("ada")
    token = make_token(TOKEN_SECRET, ada.uid, paper, "saved", generation=ada.token_generation)
    before = len(store.users.feedback("ada"))
    for _ in range(3):  # a scanner, a preview, a prefetch
        page = client.get(f"/feedback/{token}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<form method="post">' in page.text
    assert len(store.users.feedback("ada")) == before
    form = client.post(f"/feedback/{token}", headers={"content-type": FORM})
    assert form.status_code == 200 and "Recorded" in form.text, form.text
    api = client.post(f"/feedback/{token}", headers={"accept": "application/json"})
    assert api.status_code == 200 and api.json()["source"] == "digest"
    stored = store.users.feedback("ada")[before:]
    assert [(e.paper_id, e.signal.value, e.source.value) for e in stored] == [
        (paper, "saved", "digest")
    ] * 2


@pytest.mark.both_engines
def test_digest_link_cannot_be_forged(service):
    from paperrec.users.tokens import make_token

    client, store = service["client"], service["store"]
    paper = service["paper_ids"][11]
    ada, bob = store.users.get("ada"), store.users.get("bob")
    token = make_token(TOKEN_SECRET, ada.uid, paper, "saved")
    signature = token.split(".")[1]
    forged = make_token(TOKEN_SECRET, bob.uid, paper, "saved").split(".")[0] + "." + signature
    for bad in (
        forged,
        token[:-2],
        "not-a-token",
        make_token("another-secret-0123456789-0123456789", ada.uid, paper, "up"),
    ):
        for method in ("GET", "POST"):
            refused = client.request(method, f"/feedback/{bad}", headers=JSON_ACCEPT)
            assert refused.status_code == 403, (bad, refused.text)
    refused = client.post(f"/feedback/{forged}", headers=JSON_ACCEPT)
    assert "feedback token" in refused.json()["error"]
    expired = make_token(TOKEN_SECRET, ada.uid, paper, "up", ttl=60, now=time.time() - 3600)
    refused = client.post(f"/feedback/{expired}", headers=JSON_ACCEPT)
    assert refused.status_code == 403 and "expired" in refused.json()["error"]
    missing = client.get(f"/feedback/{make_token(TOKEN_SECRET, ada.uid, '9999.99999', 'up')}")
    assert missing.status_code == 404
    nobody = client.post(f"/feedback/{make_token(TOKEN_SECRET, 'no-such-uid', paper, 'up')}")
    assert nobody.status_code == 404 and "bob" not in nobody.text


FORM = "application/x-www-form-urlencoded"
JSON_ACCEPT = {"accept": "application/json"}


# -- hot reload (last: it changes the models in use) -------------------------------------
def wait_for(predicate, seconds: float = 90.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def test_new_champion_is_picked_up_and_a_broken_one_is_not(service, rows, tmp_path, monkeypatch):
    from paperrec.config import Settings
    from paperrec.train import registry
    from paperrec.train.tracking import tracked_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # this home's registry, not another
    client, settings = service["client"], Settings(home=service["home"])
    papers = {"papers": rows[:5]}
    before = client.post("/score", json=papers).json()
    old = client.get("/readyz").json()["versions"]["topics"]
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:  # requests keep arriving while models are swapped
        with httpx.Client(base_url=str(client.base_url), timeout=TIMEOUT) as own:
            while not stop.is_set():
                statuses.append(own.post("/score", json=papers).status_code)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        bundle, _ = registry.fetch_bundle(settings, registry.TOPICS_MODEL, old)
        with tracked_run(settings, "service-tests", "republish"):
            new = registry.register_bundle(settings, bundle, registry.TOPICS_MODEL)
        registry.promote(settings, registry.TOPICS_MODEL, new)
        wait_for(lambda: client.get("/readyz").json()["versions"]["topics"] == new)

        broken = tmp_path / "broken"
        shutil.copytree(bundle, broken)
        (broken / "classifier.joblib").write_bytes(b"not a model")
        with tracked_run(settings, "service-tests", "broken"):
            bad = registry.register_bundle(settings, broken, registry.TOPICS_MODEL)
        registry.promote(settings, registry.TOPICS_MODEL, bad)
        ready = wait_for(lambda: (r := client.get("/readyz").json())["reload_error"] and r)
        assert ready["versions"]["topics"] == new and f"topics v{bad}" in ready["reload_error"]
        forced = client.post("/reload", json={}, headers=bearer(service["keys"]["admin"]))
        assert forced.status_code == 409
        assert forced.json()["versions"]["topics"] == new and forced.json()["reloaded"] is False
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert statuses and set(statuses) == {200}
    assert client.post("/score", json=papers).json() == before


def test_paperrec_serve_without_models_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERREC_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # an encoder the packaged topic model was not trained with: it is refused, nothing to serve
    monkeypatch.setenv("PAPERREC_EMBEDDING_MODEL", "sentence-transformers/all-mpnet-base-v2")
    result = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert result.exit_code == 1
    assert "packaged default topic model not used: it needs the encoder" in result.output
    assert "run `paperrec train topics`" in result.output
