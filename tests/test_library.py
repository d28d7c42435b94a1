"""A reader's library imports: paperrec.users.library.import_papers with arXiv ids fetched
from a local arXiv API (the web app passes the same fetch)."""

from __future__ import annotations

import pytest

from paperrec.errors import NetworkError, NotFoundError
from paperrec.papers.sources.arxiv_api import fetch_ids
from paperrec.schema import Paper
from paperrec.users.library import import_papers, shelves
from paperrec.users.profiles import add_user
from test_sources_arxiv import api  # noqa: F401  (a local arXiv API, a fixture)

ABSTRACT = "We study sparse attention and report consistent gains on long-document benchmarks."


@pytest.fixture()
def reader(store):
    store.papers.upsert([Paper.create("Stored", ABSTRACT, id="2401.00001")], "jsonl")
    add_user(store, "ada", "ada@example.org", seeds=["2401.00001"])
    return store


@pytest.mark.timeout(60)
def test_ids_the_store_lacks_are_fetched_and_saved(reader, api):  # noqa: F811
    done = import_papers(
        reader, "ada", "arXiv ids", b"2401.01234\n2401.00001",
        lambda ids: fetch_ids(ids, retries=0, api_url=api.url),
    )  # fmt: skip
    assert set(done.saved) == {"2401.01234", "2401.00001"} and done.added == 1
    assert {item.paper.id for item in shelves(reader, "ada")["saved"]} == set(done.saved)


@pytest.mark.timeout(60)
def test_an_id_arxiv_lacks_or_no_network_imports_nothing(reader, api):  # noqa: F811
    before = reader.papers.count()
    with pytest.raises(NotFoundError, match=r"not found on arXiv: 2499\.99999: no such paper"):
        import_papers(
            reader, "ada", "arXiv ids", b"2401.01234 2499.99999",
            lambda ids: fetch_ids(ids, retries=0, api_url=api.url),
        )  # fmt: skip
    url = "http://127.0.0.1:9/api/query"  # the discard port: nothing listens
    with pytest.raises(NetworkError, match="nothing was imported"):
        import_papers(
            reader, "ada", "arXiv ids", b"2401.01234",
            lambda ids: fetch_ids(ids, retries=0, timeout=2, api_url=url),
        )  # fmt: skip
    assert reader.papers.count() == before and shelves(reader, "ada")["saved"] == []
