"""The web app in a real browser: Debian's Chromium driven by Playwright against a real
``paperrec serve`` on 127.0.0.1, with a small trained home and a real aiosmtpd server.

A reader signs in through the emailed link, rates papers (the votes are read back from the
store), dismisses one, searches, opens a paper; another reader's vote and a form without
its CSRF token are refused. Every page is photographed at 1280 and 390 px, light and dark,
into the test's folder. Skips only when chromium or Playwright is missing (``make test``
installs both).
"""

from __future__ import annotations

import shutil

import pytest

from digest_helpers import SmtpServers
from paperrec.serving.process import free_port
from service_helpers import environment, start
from web_helpers import SECRET, link_in, readers_home

CHROMIUM = shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is missing (make browser)"),
]
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
WIDTHS = {"wide": 1280, "phone": 390}


@pytest.fixture(scope="module")
def served(trained_home, session_cache, tmp_path_factory):
    from paperrec.config import Settings
    from paperrec.serving.process import serve_command
    from paperrec.store import Store

    root = tmp_path_factory.mktemp("browser")
    servers = SmtpServers()
    inbox, smtp_port = servers.start()
    home, facts = readers_home(trained_home, session_cache, root / "home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = environment(
        home, PAPERREC_TOKEN_SECRET=SECRET, PAPERREC_PUBLIC_URL=url,
        PAPERREC_SMTP_HOST="127.0.0.1", PAPERREC_SMTP_PORT=str(smtp_port),
        PAPERREC_SMTP_SECURITY="plain",
    )  # fmt: skip
    server = start(serve_command("127.0.0.1", port), env, root / "server.log", url)
    try:
        yield {"url": url, "inbox": inbox, "store": Store(Settings(home=home)), **facts}
    finally:
        server.stop()
        servers.stop()


@pytest.fixture(scope="module")
def browser(served):
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def photograph(browser, url: str, cookies: list, folder, name: str) -> None:
    """The page at ``url`` at both widths, light and dark, as PNGs in ``folder``."""
    for width_name, width in WIDTHS.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(
                viewport={"width": width, "height": 900}, color_scheme=scheme
            )
            context.add_cookies(cookies)
            tab = context.new_page()
            tab.goto(url)
            overflow = tab.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{name} is wider than {width} px"
            tab.screenshot(path=str(folder / f"{name}-{width_name}-{scheme}.png"), full_page=True)
            context.close()


def test_a_reader_signs_in_rates_searches_and_reads(served, browser, tmp_path):
    url, store = served["url"], served["store"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(url)
    assert tab.url.endswith("/signin")
    photograph(browser, f"{url}/signin", [], tmp_path, "signin")
    tab.get_by_label("User name or email").fill("ada@example.org")
    tab.get_by_role("button", name="Email me a sign-in link").click()
    assert "Check your email" in tab.content()
    tab.goto(link_in(served["inbox"].to("ada@example.org")[-1]))
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{url}/")
    assert tab.get_by_role("heading", name="Today for ada").is_visible()
    cookies = context.cookies()

    cards = tab.locator("li.card")
    assert cards.count() >= 5
    liked = cards.nth(0).get_attribute("data-paper")
    cards.nth(0).get_by_role("button", name="More like this").click()
    tab.get_by_role("status").filter(has_text="Liked").wait_for()
    dismissed = cards.nth(1).get_attribute("data-paper")
    cards.nth(1).get_by_role("button", name="Dismiss").click()
    tab.locator(f'li.card[data-paper="{dismissed}"]').wait_for(state="hidden")
    web_votes = [(e.paper_id, e.signal.value) for e in store.users.feedback("ada")
                 if e.source.value == "web"]  # fmt: skip
    assert web_votes[-2:] == [(liked, "up"), (dismissed, "dismissed")]
    tab.reload()
    assert tab.locator(f'li.card[data-paper="{dismissed}"]').count() == 0
    photograph(browser, f"{url}/", cookies, tmp_path, "today")

    tab.get_by_role("link", name="Search").click()
    tab.get_by_label("Words, a title or a question").fill("language model reasoning")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/search?q=*")
    assert tab.locator(".results .card").count() >= 5
    photograph(browser, tab.url, cookies, tmp_path, "search")

    tab.locator(".results .card h3 a").first.click()
    assert tab.get_by_role("heading", name="Abstract").is_visible()
    assert tab.get_by_role("heading", name="Similar papers").is_visible()
    photograph(browser, tab.url, cookies, tmp_path, "paper")
    photograph(browser, f"{url}/explore", cookies, tmp_path, "explore")


def test_another_readers_vote_and_a_form_without_csrf_are_refused(served, browser, tmp_path):
    url, store = served["url"], served["store"]
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{url}/signin")
    tab.get_by_label("API key").fill(served["keys"]["ada"])
    tab.get_by_role("button", name="Sign in with the key").click()
    tab.wait_for_url(f"{url}/")
    before = len(store.users.feedback("bob")), len(store.users.feedback("ada"))
    token = tab.locator("main").get_attribute("data-csrf")
    answer = tab.request.post(
        f"{url}/u/bob/vote", form={"csrf": token, "paper": served["seeds"][0], "signal": "up"}
    )
    assert answer.status == 403
    form = tab.locator("li.card form[data-vote]").first.element_handle()
    form.evaluate(
        "f => { f.removeAttribute('data-vote'); f.querySelector('[name=csrf]').remove(); }"
    )
    with tab.expect_navigation():
        form.query_selector("button").click()
    assert "Form refused" in tab.content()
    tab.screenshot(path=str(tmp_path / "refused.png"))
    after = len(store.users.feedback("bob")), len(store.users.feedback("ada"))
    assert after == before
