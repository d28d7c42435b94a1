"""arXiv Atom parsing (offline fixtures), version handling in the store, and the live API.

The live API cannot be reached from CI, so `fetch_recent` is checked two ways: against the
real (absent) network, which must fail fast with NetworkError, and against a local HTTP
server that serves the Atom fixtures or misbehaves on purpose.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
import time
from pathlib import Path

import arxiv
import pytest

from paperrec.errors import InputError, NetworkError
from paperrec.papers.ingest import ingest_paths
from paperrec.papers.sources import detect_format, expand, read_path
from paperrec.papers.sources.arxiv import ordered_categories, parse_arxiv_atom, to_record
from paperrec.papers.sources.arxiv_api import (
    build_query,
    entry_from_result,
    fetch_ids,
    fetch_recent,
    validate_category,
)
from paperrec.papers.sources.base import Problem

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
V1, V2, V3 = (FIXTURES / f"atom_v{n}.xml" for n in (1, 2, 3))
SPARSE = "2401.01234"


def _papers(path: Path) -> dict:
    records = list(parse_arxiv_atom(path))
    assert not [r for r in records if isinstance(r, Problem)]
    return {r.id: r for r in records}


def _problems(path: Path) -> list[Problem]:
    return [r for r in parse_arxiv_atom(path) if isinstance(r, Problem)]


# -- parsing ------------------------------------------------------------------------------
def test_version_suffix_collapses_and_version_is_kept():
    assert {pid: p.version for pid, p in _papers(V1).items()} == {
        SPARSE: 1,
        "2312.09876": 1,
        "hep-th/9901001": 1,
    }
    assert _papers(V2)[SPARSE].version == 2
    assert _papers(V3)[SPARSE].version == 3


def test_primary_category_first_then_cross_lists_in_order():
    papers = _papers(V1)
    assert papers[SPARSE].categories == ("cs.LG", "cs.CL", "eess.AS")
    # Primary math.OC is listed second in the feed, and cs.LG twice.
    assert papers["2312.09876"].categories == ("math.OC", "cs.LG", "stat.ML")
    assert papers["hep-th/9901001"].categories == ("hep-th",)
    # Namespaces declared on the feed instead of on each element (newer API responses).
    assert _papers(V3)[SPARSE].categories == ("cs.LG", "cs.CL", "cs.SD", "eess.AS")


def test_ordered_categories_drops_blanks_and_repeats():
    assert ordered_categories("stat.ML", ["cs.LG", " stat.ML", "", "cs.LG"]) == ("stat.ML", "cs.LG")
    assert ordered_categories("", ["cs.LG"]) == ("cs.LG",)


def test_fields_are_normalised():
    paper = _papers(V1)[SPARSE]
    assert paper.title == "Sparse Mixture-of-Experts Routing for Streaming Speech Recognition"
    assert paper.abstract.startswith("We study sparse mixture-of-experts routing for streaming")
    assert "\n" not in paper.abstract and "  " not in paper.abstract
    assert paper.date == dt.date(2024, 1, 2)  # published, not updated
    assert paper.authors == ("Ada Lovelace", "Alan Turing")
    assert paper.source == "arxiv-atom"
    sgd = _papers(V1)["2312.09876"]
    assert r"$\eta_t < 1/L$" in sgd.abstract and "factors & hold" in sgd.abstract
    assert _papers(V3)[SPARSE].date == dt.date(2024, 1, 2)


def test_atom_files_are_detected_by_suffix_and_content(tmp_path):
    assert detect_format(V1) == "arxiv-atom"
    unnamed = tmp_path / "response"
    unnamed.write_bytes(V1.read_bytes())
    assert detect_format(unnamed) == "arxiv-atom"
    assert len(list(read_path(unnamed))) == 3


def test_api_error_feed_is_a_problem_with_its_line():
    (problem,) = _problems(FIXTURES / "atom_error.xml")
    assert problem.line == 11
    assert problem.message == "the arXiv API returned an error: incorrect id format for 2401.1234"


def test_bad_entries_cost_that_entry_only(tmp_path):
    text = V1.read_text(encoding="utf-8")
    text = text.replace("<id>http://arxiv.org/abs/hep-th/9901001v1</id>", "<id>urn:x-local:42</id>")
    start = text.index("<summary>We prove")
    end = text.index("</summary>", start)
    text = text[:start] + "<summary>   " + text[end:]
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    records = list(parse_arxiv_atom(path))
    assert [r.id for r in records if not isinstance(r, Problem)] == [SPARSE]
    problems = [r for r in records if isinstance(r, Problem)]
    lines = text.splitlines()
    flagged = [lines[p.line - 1].strip() for p in problems]
    assert flagged == ["<id>http://arxiv.org/abs/2312.09876v1</id>", "<id>urn:x-local:42</id>"]
    assert "empty abstract" in problems[0].message
    assert "not an arXiv id" in problems[1].message and "2401.01234v2" in problems[1].message


@pytest.mark.parametrize(
    ("damage", "line", "expected"),
    [
        (lambda raw: raw[:1900], 31, "malformed XML"),  # download cut short
        (lambda raw: raw.replace(b"&amp; hold", b"& hold"), 43, "malformed XML"),
        (lambda raw: raw.replace(b"Kovalevskaya", b"Kovalevsk\xe1ya"), 46, "wrong encoding"),
    ],
)
def test_broken_file_is_one_problem_and_no_papers(tmp_path, damage, line, expected):
    path = tmp_path / "broken.xml"
    path.write_bytes(damage(V1.read_bytes()))
    records = list(parse_arxiv_atom(path))
    assert len(records) == 1 and isinstance(records[0], Problem)
    assert (records[0].path, records[0].line) == (str(path), line)
    assert records[0].message.startswith(expected)
    assert "nothing read from this file" in records[0].message


@pytest.mark.parametrize("content", [b"", b"hello, not xml", b"<html><body>503</body></html>"])
def test_not_an_atom_feed(tmp_path, content):
    path = tmp_path / "page.xml"
    path.write_bytes(content)
    records = list(parse_arxiv_atom(path))
    assert len(records) == 1 and isinstance(records[0], Problem)
    assert records[0].message.startswith(("not an Atom feed", "malformed XML"))


def test_api_result_and_atom_entry_give_the_same_paper():
    atom = _papers(V1)["2312.09876"]
    result = arxiv.Result(
        entry_id="http://arxiv.org/abs/2312.09876v1",
        published=dt.datetime(2023, 12, 15, 9, 30, 12, tzinfo=dt.UTC),
        title=atom.title,
        summary=atom.abstract,
        authors=[arxiv.Result.Author("Sofia Kovalevskaya")],
        primary_category="math.OC",
        categories=["cs.LG", "math.OC", "stat.ML"],
    )
    live = to_record(entry_from_result(result), "arxiv-atom", "api", None)
    assert live == atom


# -- the store ----------------------------------------------------------------------------
def _row(store, paper_id: str):
    (paper,) = store.papers.get_many([paper_id])
    return paper


def test_newer_version_replaces_the_row_in_place(store):
    first = ingest_paths(store.papers, [V1])
    assert (first.counts.added, store.papers.count()) == (3, 3)
    second = ingest_paths(store.papers, [V2])
    assert (second.counts.added, second.counts.updated) == (0, 2)
    third = ingest_paths(store.papers, [V3])
    assert (third.counts.added, third.counts.updated) == (0, 1)
    assert store.papers.count() == 3
    paper = _row(store, SPARSE)
    assert paper.version == 3
    assert paper.title == _papers(V3)[SPARSE].title
    assert paper.categories == ("cs.LG", "cs.CL", "cs.SD", "eess.AS")
    assert _row(store, "2312.09876v1").version == 2  # any version resolves to the row


def test_v2_then_v3_keeps_v3(store):
    ingest_paths(store.papers, [V2])
    ingest_paths(store.papers, [V3])
    assert _row(store, SPARSE).abstract == _papers(V3)[SPARSE].abstract


def test_v3_then_v2_keeps_v3_and_counts_the_older_version(store):
    ingest_paths(store.papers, [V3])
    summary = ingest_paths(store.papers, [V2])
    assert summary.counts.older_skipped == 1
    assert summary.counts.added == 1  # 2312.09876 is new
    paper = _row(store, SPARSE)
    assert (paper.version, paper.abstract) == (3, _papers(V3)[SPARSE].abstract)
    assert store.papers.count() == 2


def test_versions_in_one_file_newest_wins(tmp_path, store):
    # Two versions of one paper in a single batch: the later, older one must not win.
    v3 = V3.read_text(encoding="utf-8")
    v1_entry = V1.read_text(encoding="utf-8").split("<entry>")[1].split("</entry>")[0]
    path = tmp_path / "mixed.xml"
    path.write_text(v3.replace("</feed>", f"<entry>{v1_entry}</entry>\n</feed>"), encoding="utf-8")
    summary = ingest_paths(store.papers, [path])
    assert (summary.counts.added, summary.counts.older_skipped) == (1, 1)
    assert _row(store, SPARSE).version == 3


# -- the live API -------------------------------------------------------------------------
def test_category_validation():
    assert validate_category(" cs.LG ") == "cs.LG"
    for good in ("hep-th", "cond-mat.stat-mech", "astro-ph.CO", "q-bio.NC", "math-ph"):
        assert validate_category(good) == good
    with pytest.raises(InputError, match="malformed; expected archive or archive.SUBJECT"):
        validate_category("cs LG")
    with pytest.raises(InputError, match="unknown arXiv archive 'cz'; available: astro-ph"):
        validate_category("cz.LG")
    with pytest.raises(InputError, match="at least one arXiv category"):
        fetch_recent([], days=1, max_results=10)
    with pytest.raises(InputError, match="at least 1"):
        fetch_recent(["cs.LG"], days=0, max_results=10)


def test_build_query_covers_the_last_days_in_utc():
    now = dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.UTC)
    assert build_query(["cs.LG", "stat.ML"], 2, now) == (
        "(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202403031430 TO 202403051430]"
    )


@pytest.mark.timeout(60)
def test_fetch_without_network_raises_network_error_fast():
    started = time.monotonic()
    with pytest.raises(NetworkError) as caught:
        fetch_recent(["cs.LG"], days=2, max_results=10, timeout=5, retries=0)
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("cannot reach the arXiv API (export.arxiv.org): ")
    assert message.endswith("ingest a saved Atom file with --format arxiv-atom")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.body`` with ``server.status``; sleeps ``server.delay`` first."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        time.sleep(self.server.delay)
        self.server.paths.append(self.path)
        try:
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/atom+xml")
            self.end_headers()
            self.wfile.write(self.server.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: what the timeout test wants

    def log_message(self, *args):
        pass


@pytest.fixture()
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.status, server.body, server.delay, server.paths = 200, V1.read_bytes(), 0.0, []
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/api/query"
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(60)
def test_fetch_from_a_local_api_returns_papers(api):
    now = dt.datetime(2024, 1, 3, tzinfo=dt.UTC)
    papers = fetch_recent(["cs.LG", "math.OC"], days=2, max_results=2, api_url=api.url, now=now)
    assert [(p.id, p.version, p.source) for p in papers] == [
        (SPARSE, 1, "arxiv-api"),
        ("2312.09876", 1, "arxiv-api"),
    ]
    assert papers[1].categories == ("math.OC", "cs.LG", "stat.ML")
    assert "cat%3Acs.LG+OR+cat%3Amath.OC" in api.paths[0]
    assert "submittedDate%3A%5B202401010000+TO+202401030000%5D" in api.paths[0]


@pytest.mark.timeout(60)
def test_fetch_http_error_is_a_network_error(api):
    api.status, api.body = 503, b"Service Unavailable"
    expected = r"cannot reach the arXiv API \(127.0.0.1:\d+\): HTTP 503;"
    with pytest.raises(NetworkError, match=expected):
        fetch_recent(["cs.LG"], days=1, max_results=5, retries=0, api_url=api.url)


@pytest.mark.timeout(60)
def test_fetch_timeout_is_a_network_error(api):
    api.delay = 3.0
    started = time.monotonic()
    with pytest.raises(NetworkError, match="no answer within 0.5 s"):
        fetch_recent(["cs.LG"], days=1, max_results=5, timeout=0.5, retries=0, api_url=api.url)
    assert time.monotonic() - started < 3.0


@pytest.mark.timeout(60)
def test_fetch_connection_refused_is_a_network_error():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/query"
    with pytest.raises(NetworkError, match="connection refused"):
        fetch_recent(["cs.LG"], days=1, max_results=5, retries=0, api_url=url)


@pytest.mark.timeout(60)
def test_fetch_ids_from_a_local_api_returns_those_papers_and_names_unknown_ones(api):
    papers, problems = fetch_ids(
        ["arXiv:2401.01234", "2312.09876v1", "2499.99999"], retries=0, api_url=api.url
    )
    assert [(p.id, p.source) for p in papers] == [
        (SPARSE, "arxiv-api"),
        ("2312.09876", "arxiv-api"),
    ]
    assert [str(p) for p in problems] == [
        f"arXiv API ({api.url.split('/')[2]}): 2499.99999: no such paper"
    ]
    assert "id_list=2401.01234%2C2312.09876v1%2C2499.99999" in api.paths[0]
    with pytest.raises(InputError, match="'cs.LG' is not an arXiv id"):
        fetch_ids(["cs.LG"], api_url=api.url)


def test_specs_name_arxiv_ids_with_or_without_the_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    named = expand(["arxiv:2401.01234", "arxiv:2312.09876v2,hep-th/9901001", "arxiv:cs.LG"])
    assert named.ids == ["2401.01234", "2312.09876v2", "hep-th/9901001"]
    assert named.categories == ["cs.LG"] and named.files == []
    assert expand(["2401.01234,2401.01235"]).ids == ["2401.01234", "2401.01235"]
    # a file of that name is the file; where only files make sense, an id is not one
    Path("2401.01234").write_bytes(V1.read_bytes())
    assert expand(["2401.01234"]).files == [(Path("2401.01234"), "arxiv-atom")]
    with pytest.raises(InputError, match="no such page file or folder"):
        expand(["2312.09876"], "hf-page", noun="page", local=True)
    with pytest.raises(InputError, match="give a file or folder here, not the arXiv API"):
        expand(["arxiv:2312.09876"], "hf-page", noun="page", local=True)
    with pytest.raises(InputError, match="names no category or id"):
        expand(["arxiv:"])
