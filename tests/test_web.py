"""The web app in process: real pages over a real trained home, asserting on what a reader
sees. Sign in by an emailed link (a real aiosmtpd server) or an API key, Today, votes,
a paper's page, search and explore; forged, expired and reused links, missing CSRF tokens
and another reader's votes are refused with nothing written."""

from __future__ import annotations

import datetime as dt
import re
import time
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from digest_helpers import SmtpServers
from web_helpers import BIBTEX, SECRET, csrf_of, link_in, readers_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(trained_home, session_cache, tmp_path_factory):
    from paperrec.config import Settings
    from paperrec.runtime import Runtime
    from paperrec.serving.holder import PredictorHolder
    from paperrec.web import attach, create_app

    servers = SmtpServers()
    inbox, port = servers.start()
    home, facts = readers_home(trained_home, session_cache, tmp_path_factory.mktemp("web") / "h")
    settings = Settings(
        home=home, token_secret=SECRET, public_url="http://testserver",
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="plain", reload_interval=0,
    )  # fmt: skip
    runtime = Runtime(settings)
    app = create_app()
    attach(app, runtime, PredictorHolder.load(runtime))
    yield {"app": app, "inbox": inbox, "store": runtime.store, "settings": settings, **facts}
    servers.stop()


def client(site) -> TestClient:
    return TestClient(site["app"], base_url="http://testserver", follow_redirects=False)


def signed_in(site, key: str = "ada") -> TestClient:
    """A new client signed in with ``key``'s API key. Each key signs in once per module and
    later clients reuse its session cookie: every sign-in here comes from one address, and
    the per-address limit (20 per window) would refuse the tests' later ones."""
    cookies = site.setdefault("sessions", {})
    if key not in cookies:
        browser = client(site)
        token = csrf_of(browser.get("/signin").text)
        answer = browser.post("/signin/key", data={"csrf": token, "key": site["keys"][key]})
        assert answer.status_code == 303
        cookies[key] = dict(browser.cookies)
    browser = client(site)
    browser.cookies.update(cookies[key])
    return browser


def votes(site, user: str) -> list:
    return [e for e in site["store"].users.feedback(user) if e.source.value == "web"]


def test_email_link_signs_in_once(site):
    browser = client(site)
    first = browser.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/signin"
    cookie = first.headers["set-cookie"].lower()  # a visitor's session, for the CSRF token
    page = browser.get("/signin")
    assert "Email me a sign-in link" in page.text
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    sent = browser.post("/signin/email", data={"csrf": csrf_of(page.text), "who": "ada"})
    assert sent.status_code == 200 and "Check your email" in sent.text
    link = link_in(site["inbox"].to("ada@example.org")[-1])
    path = urlsplit(link).path
    confirm = browser.get(path)  # a mail scanner's GET uses nothing up
    assert confirm.status_code == 200 and "Sign in to paperrec" in confirm.text
    done = browser.post(path, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/"
    today = browser.get("/")
    assert today.status_code == 200 and "Today for ada" in today.text
    again = client(site)
    token = csrf_of(again.get(path).text)
    reused = again.post(path, data={"csrf": token})
    assert reused.status_code == 403 and "already used" in reused.text


def test_forged_and_expired_links_are_refused(site):
    from paperrec.users.signin import issue_link

    browser = client(site)
    forged = browser.get("/signin/link/" + "A" * 32 + "." + "B" * 43)
    assert forged.status_code == 403 and "signature does not match" in forged.text
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    path = urlsplit(issue_link(site["store"], site["settings"], "ada", now=old)).path
    token = csrf_of(browser.get(path).text)
    expired = browser.post(path, data={"csrf": token})
    assert expired.status_code == 403 and "expired" in expired.text
    assert "Today for" not in browser.get("/", follow_redirects=True).text


def test_unknown_account_reveals_nothing_and_requests_are_limited(site):
    browser = client(site)
    token = csrf_of(browser.get("/signin").text)
    before = len(site["inbox"].messages)
    answer = browser.post("/signin/email", data={"csrf": token, "who": "nobody@example.org"})
    assert answer.status_code == 200 and "Check your email" in answer.text
    assert len(site["inbox"].messages) == before
    codes = [
        browser.post("/signin/email", data={"csrf": token, "who": "bob"}).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [200] * 5 and codes[5] == 429


def test_bad_key_and_missing_csrf_are_refused(site):
    browser = client(site)
    token = csrf_of(browser.get("/signin").text)
    bad = browser.post("/signin/key", data={"csrf": token, "key": "prk_not-a-key"})
    assert bad.status_code == 403 and "not known" in bad.text
    no_token = browser.post("/signin/key", data={"key": site["keys"]["ada"]})
    assert no_token.status_code == 403 and "security token" in no_token.text
    assert "Today for" not in browser.get("/", follow_redirects=True).text


def test_today_ranks_with_percentiles_and_votes_take_effect(site):
    browser = signed_in(site)
    page = browser.get("/")
    assert page.status_code == 200
    assert page.text.count('class="card"') >= 5 and "top " in page.text
    assert "Why:" in page.text and 'class="chip"' in page.text
    first = page.text.split('data-paper="')[1].split('"')[0]
    token = csrf_of(page.text)
    answer = browser.post(
        "/u/ada/vote", data={"csrf": token, "paper": first, "signal": "dismissed"},
        headers={"accept": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["signal"] == "dismissed"
    assert [(e.paper_id, e.signal.value) for e in votes(site, "ada")][-1] == (first, "dismissed")
    feed = site["app"].state.context.feed
    window = feed.window(*feed.span(None, 1))
    deadline = time.monotonic() + 60
    while not feed.ready("ada", window) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert feed.ready("ada", window)  # ranked again after the vote before any Today asked
    assert f'data-paper="{first}"' not in browser.get("/").text  # gone at once
    week = browser.get("/?days=7")
    assert "in the 7 days up to" in week.text


def test_votes_for_another_reader_or_without_csrf_write_nothing(site):
    browser = signed_in(site)
    token = csrf_of(browser.get("/").text)
    paper = site["seeds"][0]
    before = len(site["store"].users.feedback("bob")), len(site["store"].users.feedback("ada"))
    other = browser.post("/u/bob/vote", data={"csrf": token, "paper": paper, "signal": "up"})
    assert other.status_code == 403 and "only vote as yourself" in other.text
    missing = browser.post("/u/ada/vote", data={"paper": paper, "signal": "up"})
    assert missing.status_code == 403
    unknown = browser.post("/u/ada/vote", data={"csrf": token, "paper": "nope", "signal": "up"})
    assert unknown.status_code == 404
    after = len(site["store"].users.feedback("bob")), len(site["store"].users.feedback("ada"))
    assert after == before


def test_paper_page_shows_topics_and_similar_papers(site):
    browser = signed_in(site)
    paper = site["store"].papers.get_many([site["seeds"][0]])[0]
    page = browser.get(f"/paper/{paper.id}")
    assert page.status_code == 200
    assert paper.title in page.text and paper.abstract[:60] in page.text
    assert "Similar papers" in page.text and page.text.count('class="card"') == 8
    assert "<td>area</td>" in page.text and "Your vote: <strong>seed</strong>" in page.text
    assert browser.get("/paper/not-a-paper").status_code == 404


def test_search_finds_a_paper_by_words_and_by_meaning(site):
    browser = client(site)
    paper = site["store"].papers.get_many([site["seeds"][1]])[0]
    page = browser.get("/search", params={"q": paper.title})
    assert page.status_code == 200
    assert (
        page.text.index(paper.title)
        < page.text.index('class="card"', page.text.index(paper.title) - 300) + 400
    )
    assert 'class="chip"' in page.text
    too_long = browser.get("/search", params={"q": "x" * 400})
    assert too_long.status_code == 400


def test_explore_orders_by_trending_with_topic_facets(site):
    browser = signed_in(site)
    token = csrf_of(browser.get("/").text)
    newest = site["store"].papers.iter_papers(since=site["newest"], until=site["newest"])
    liked = newest[-1].id
    browser.post("/u/ada/vote", data={"csrf": token, "paper": liked, "signal": "saved"})
    page = browser.get("/explore")
    assert page.status_code == 200 and "liked by 1 reader" in page.text
    first_card = page.text.split('class="card"')[1]
    assert f"/paper/{liked}" in first_card
    assert "<h2>Areas</h2>" in page.text and 'class="count"' in page.text
    newest_first = browser.get("/explore", params={"order": "newest"})
    assert newest_first.status_code == 200


def test_library_imports_bibtex_and_takes_votes_back(site):
    browser = signed_in(site)
    page = browser.get("/u/ada/library")
    assert page.status_code == 200 and "Liked" in page.text and site["seeds"][0] in page.text
    token = csrf_of(page.text)
    files = {"file": ("mine.bib", BIBTEX.encode(), "application/x-bibtex")}
    done = browser.post("/u/ada/library/import", data={"csrf": token}, files=files)
    assert done.status_code == 303 and "Imported+1+paper" in done.headers["location"]
    assert site["store"].activity.latest_signal("ada", "2499.00001") == "saved"
    assert "A paper the store does not hold yet" in browser.get("/u/ada/library").text
    undo = browser.post("/u/ada/library/undo", data={"csrf": token, "paper": "2499.00001"})
    assert undo.status_code == 303
    assert site["store"].activity.latest_signal("ada", "2499.00001") is None
    exported = browser.get("/u/ada/library/export.bib")
    assert exported.status_code == 200 and "@article" in exported.text
    assert browser.get("/u/ada/library/export.json").json()[0]["shelf"] in ("liked", "saved")


def test_broken_or_oversized_imports_write_nothing(site):
    browser = signed_in(site)
    token = csrf_of(browser.get("/u/ada/library").text)
    before = len(site["store"].users.feedback("ada")), site["store"].papers.count()
    broken = BIBTEX + "@article{broken,\n  title = {Unclosed\n"
    files = {"file": ("broken.bib", broken.encode(), "application/x-bibtex")}
    answer = browser.post("/u/ada/library/import", data={"csrf": token}, files=files)
    assert answer.status_code == 400 and "cannot be read" in answer.text
    huge = {"file": ("huge.bib", b"@" + b"x" * (2 * 1024 * 1024), "application/x-bibtex")}
    too_big = browser.post("/u/ada/library/import", data={"csrf": token}, files=huge)
    assert too_big.status_code == 413
    missing = browser.post("/u/ada/library/import", data={"csrf": token, "ids": "2499.99999"})
    # arXiv is asked for an id the store lacks: offline (503) or unknown there (404)
    assert missing.status_code in (404, 503) and "nothing was imported" in missing.text
    assert (len(site["store"].users.feedback("ada")), site["store"].papers.count()) == before


def test_settings_change_and_another_readers_pages_are_refused(site):
    browser = signed_in(site)
    page = browser.get("/u/ada/settings")
    assert page.status_code == 200 and 'name="cadence"' in page.text
    form = {
        "csrf": csrf_of(page.text), "email": "ada@lab.example.org", "cadence": "weekly",
        "k": "7", "min_score": "", "topic_quota": "2", "trending": "on",
        "topics": ["nlp"],
    }  # fmt: skip
    assert browser.post("/u/ada/settings", data=form).status_code == 303
    budget = site["store"].users.digest_settings("ada")
    assert (budget.cadence, budget.k, budget.topic_quota, budget.trending) == (
        "weekly", 7, {"*": 2}, True,
    )  # fmt: skip
    account = site["store"].users.get("ada")
    assert account.email == "ada@lab.example.org" and account.topics == ("nlp",)
    bad = browser.post("/u/ada/settings", data={**form, "k": "500"})
    assert bad.status_code == 400 and site["store"].users.digest_settings("ada").k == 7
    assert browser.get("/u/bob/settings").status_code == 403
    assert browser.get("/u/bob/library").status_code == 403
    site["store"].users.set_email("ada", "ada@example.org")


def test_api_keys_are_created_shown_once_and_revoked(site):
    store = site["store"]
    browser = signed_in(site)
    token = csrf_of(browser.get("/u/ada/settings").text)
    before = [k.id for k in store.keys.of("ada")]
    made = browser.post("/u/ada/keys", data={"csrf": token})
    assert made.status_code == 200 and "shown only now" in made.text
    key = re.search(r'id="new-key" type="text" readonly value="([^"]+)"', made.text).group(1)
    new = [k.id for k in store.keys.of("ada") if k.id not in before]
    assert len(new) == 1 and store.keys.owner(key) == (False, "ada")
    listed = browser.get("/u/ada/settings").text
    assert f"Revoke key {new[0]}" in listed and key not in listed  # the key itself only once
    assert browser.post("/u/ada/keys", data={}).status_code == 403  # no CSRF token
    bobs = store.keys.create("bob")
    bob_id = store.keys.of("bob")[-1].id
    other = browser.post("/u/ada/keys/revoke", data={"csrf": token, "key": str(bob_id)})
    assert other.status_code == 404 and store.keys.owner(bobs) == (False, "bob")
    assert (
        browser.post("/u/bob/keys/revoke", data={"csrf": token, "key": str(bob_id)}).status_code
        == 403
    )
    bad = browser.post("/u/ada/keys/revoke", data={"csrf": token, "key": "x"})
    assert bad.status_code == 400 and "nothing was revoked" in bad.text
    assert len(store.keys.of("ada")) == len(before) + 1
    gone = browser.post("/u/ada/keys/revoke", data={"csrf": token, "key": str(new[0])})
    assert gone.status_code == 303 and store.keys.owner(key) is None


def test_an_admin_invites_a_reader_who_gets_a_sign_in_link(site):
    admin = signed_in(site, "admin")
    token = csrf_of(admin.get("/admin").text)
    form = {"csrf": token, "name": "cleo", "email": "cleo@example.org", "topics": "nlp"}
    assert signed_in(site).post("/admin/invite", data=form).status_code == 403  # a reader
    answer = admin.post("/admin/invite", data=form)
    assert answer.status_code == 303 and "Invited+cleo" in answer.headers["location"]
    assert site["store"].users.get("cleo").topics == ("nlp",)
    assert "/signin/link/" in link_in(site["inbox"].to("cleo@example.org")[-1])
    users = len(site["store"].users.names())
    again = admin.post("/admin/invite", data=form)
    assert again.status_code == 400  # the name is taken
    unknown = admin.post("/admin/invite", data={**form, "name": "dora", "topics": "no-such"})
    assert unknown.status_code == 400 and "no-such" in unknown.text
    assert len(site["store"].users.names()) == users


def test_admin_and_api_docs(site):
    assert signed_in(site).get("/admin").status_code == 403
    admin = signed_in(site, "admin")
    page = admin.get("/admin")
    assert page.status_code == 200 and "paperrec-topics" in page.text and "ada" in page.text
    docs = client(site).get("/docs")
    assert docs.status_code == 200 and "paperrec" in docs.text
    assert "https://" not in docs.text  # every script and style is served from here
    spec = client(site).get("/docs/openapi.json").json()
    assert spec["info"]["title"] == "paperrec"
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
