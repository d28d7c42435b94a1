"""The web app in a real browser: Debian's Chromium driven by Playwright against a real
``paperrec serve`` on 127.0.0.1, with a small trained home and a real aiosmtpd server.

A reader signs in through the emailed link, rates papers with the mouse and with the
keyboard (the votes are read back from the store), dismisses one, searches, opens a paper,
imports a BibTeX file (a broken one is refused whole), changes settings and confirms a
digest link; another reader's pages and votes and a form without its CSRF token are
refused. Every page is photographed at 1280 and 390 px, light and dark, into the test's
folder, and checked on the way: no sideways scrolling, every control labelled, text
contrast at least 4.5:1 (WCAG AA). Skips only when chromium or Playwright is missing
(``make test`` installs both).
"""

from __future__ import annotations

import shutil

import pytest

from digest_helpers import SmtpServers
from paperrec.serving.process import free_port
from service_helpers import environment, start
from web_helpers import BIBTEX, SECRET, link_in, readers_home

CHROMIUM = shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
expect = playwright.expect  # waits (up to 5 s) for what it asserts; is_visible() does not
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is missing (make browser)"),
]
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
WIDTHS = {"wide": 1280, "phone": 390}
# Form controls without an accessible name (label, aria-label(ledby), title, or button text).
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')].filter(el =>
  !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
  !el.getAttribute('aria-labelledby') && !el.getAttribute('title') &&
  !(el.tagName === 'BUTTON' && el.textContent.trim())
).map(el => el.outerHTML.slice(0, 100))"""
# Visible text whose colour has a WCAG contrast ratio under 4.5 against what lies behind it.
LOW_CONTRAST = """() => {
  const rgba = s => {
    const v = s.match(/[\\d.]+/g).map(Number);
    return v.length > 3 ? v : [...v, 1];
  };
  const lum = c => {
    const f = x => (x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const behind = el => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const found = new Set();
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const shown = el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden';
    if (!own || !shown) continue;
    const a = lum(rgba(getComputedStyle(el).color)), b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) found.add(`${el.tagName.toLowerCase()}.${el.className} ${ratio.toFixed(2)}`);
  }
  return [...found];
}"""


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


def photograph(
    browser, url: str, cookies: list, folder, name: str, status: int = 200, ready: str = ""
) -> None:
    """The page at ``url`` at both widths, light and dark, as PNGs in ``folder``, after
    checking it answers ``status``, fits the width, labels its controls and is readable.
    ``ready`` is a selector to wait for on pages that a script draws after loading."""
    for width_name, width in WIDTHS.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(
                viewport={"width": width, "height": 900}, color_scheme=scheme
            )
            context.add_cookies(cookies)
            tab = context.new_page()
            assert tab.goto(url).status == status, f"{name}: {url}"
            if ready:
                tab.wait_for_selector(ready)
            overflow = tab.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{name} is wider than {width} px"
            unlabelled = tab.evaluate(UNLABELLED)
            assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
            faint = tab.evaluate(LOW_CONTRAST)
            assert faint == [], f"{name} ({scheme}): text hard to read: {faint}"
            tab.screenshot(path=str(folder / f"{name}-{width_name}-{scheme}.png"), full_page=True)
            context.close()


def signed_in(browser, url: str, key: str, lands: str = "/"):
    """A new 1280 px tab signed in with the API key ``key``, on the page the sign-in sends
    it to (``lands``: a reader's today page, or an admin's explore page)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{url}/signin")
    tab.get_by_label("API key").fill(key)
    tab.get_by_role("button", name="Sign in with the key").click()
    tab.wait_for_url(f"{url}{lands}")  # the click only starts the navigation
    return context, tab


def test_a_reader_signs_in_rates_searches_and_reads(served, browser, tmp_path):
    url, store = served["url"], served["store"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(url)
    assert tab.url.endswith("/signin")
    photograph(browser, f"{url}/signin", [], tmp_path, "signin")
    tab.get_by_label("User name or email").fill("ada@example.org")
    tab.get_by_role("button", name="Email me a sign-in link").click()
    # the click starts the form's navigation; read the page once the answer has loaded (a
    # .content() right after the click once read the empty page in between)
    tab.get_by_text("Check your email").wait_for()
    tab.screenshot(path=str(tmp_path / "signin-sent.png"))
    link = link_in(served["inbox"].to("ada@example.org")[-1])
    photograph(browser, link, [], tmp_path, "signin-link")  # a GET does not use the link up
    tab.goto(link)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{url}/")
    expect(tab.get_by_role("heading", name="Today for ada")).to_be_visible()
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
    for _ in range(100):  # from the top of the page to the first Save button, by keyboard
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.textContent.trim()") == "Save":
            break
    saved = tab.evaluate("document.activeElement.closest('li.card').dataset.paper")
    tab.keyboard.press("Enter")
    tab.get_by_role("status").filter(has_text="Saved").wait_for()
    assert store.activity.latest_signal("ada", saved) == "saved"
    photograph(browser, f"{url}/", cookies, tmp_path, "today")

    tab.get_by_role("link", name="Search").click()
    tab.get_by_label("Words, a title or a question").fill("language model reasoning")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/search?q=*")
    assert tab.locator(".results .card").count() >= 5
    photograph(browser, tab.url, cookies, tmp_path, "search")

    # a click only starts the navigation: wait for the new page, then for its headings
    # (a bare is_visible() once read the paper's page before its body had loaded)
    tab.locator(".results .card h3 a").first.click()
    tab.wait_for_url("**/paper/*")
    expect(tab.get_by_role("heading", name="Abstract")).to_be_visible()
    expect(tab.get_by_role("heading", name="Similar papers")).to_be_visible()
    photograph(browser, tab.url, cookies, tmp_path, "paper")
    photograph(browser, f"{url}/explore", cookies, tmp_path, "explore")


def test_another_readers_vote_and_a_form_without_csrf_are_refused(served, browser, tmp_path):
    url, store = served["url"], served["store"]
    context, tab = signed_in(browser, url, served["keys"]["ada"])
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


def test_a_reader_imports_sets_and_confirms_a_digest_link(served, browser, tmp_path):
    from paperrec.digest.content import feedback_url
    from paperrec.users.tokens import make_token

    url, store = served["url"], served["store"]
    context, tab = signed_in(browser, url, served["keys"]["ada"])
    cookies = context.cookies()
    tab.get_by_role("link", name="Library").click()
    good, broken = tmp_path / "mine.bib", tmp_path / "broken.bib"
    good.write_text(BIBTEX, encoding="utf-8")
    broken.write_text(BIBTEX + "@article{broken,\n  title = {Unclosed\n", encoding="utf-8")
    before = len(store.users.feedback("ada")), store.papers.count()
    tab.get_by_label("File (.bib or .json)").set_input_files(broken)
    with tab.expect_navigation() as refused:
        tab.get_by_role("button", name="Import").click()
    assert refused.value.status == 400
    assert "cannot be read" in tab.get_by_role("alert").inner_text()
    assert (len(store.users.feedback("ada")), store.papers.count()) == before
    tab.screenshot(path=str(tmp_path / "import-refused.png"))
    tab.go_back()
    tab.get_by_label("File (.bib or .json)").set_input_files(good)
    tab.get_by_role("button", name="Import").click()
    tab.get_by_role("status").filter(has_text="Imported 1 paper").wait_for()
    expect(tab.get_by_role("link", name="A paper the store does not hold yet")).to_be_visible()
    assert store.activity.latest_signal("ada", "2499.00001") == "saved"
    photograph(browser, tab.url, cookies, tmp_path, "library")

    tab.get_by_role("link", name="Settings").click()
    tab.get_by_label("How often").select_option("weekly")
    tab.get_by_label("Papers per digest (1 to 100)").fill("7")
    tab.get_by_role("button", name="Save settings").click()
    tab.get_by_role("status").filter(has_text="Settings saved").wait_for()
    budget = store.users.digest_settings("ada")
    assert (budget.cadence, budget.k) == ("weekly", 7)
    photograph(browser, tab.url, cookies, tmp_path, "settings")

    for page in ("library", "settings"):  # another reader's pages
        answer = tab.goto(f"{url}/u/bob/{page}")
        assert answer.status == 403 and "belongs to another reader" in tab.content()
    photograph(browser, f"{url}/u/bob/library", cookies, tmp_path, "refused", status=403)

    ada = store.users.get("ada")
    voted = {e.paper_id for e in store.users.feedback("ada")}
    newest = store.papers.iter_papers(since=served["newest"], until=served["newest"])
    paper = next(p.id for p in newest if p.id not in voted)
    token = make_token(SECRET, ada.uid, paper, "saved", generation=ada.token_generation)
    link = feedback_url(url, token)
    photograph(browser, link, [], tmp_path, "digest-link")  # a GET records nothing
    assert store.activity.latest_signal("ada", paper) is None
    tab.goto(link)
    tab.get_by_role("button", name="Record it").click()
    tab.wait_for_url(f"{url}/paper/{paper}")
    assert "Your vote: Saved" in tab.locator(".state").inner_text()
    event = store.users.feedback("ada")[-1]
    assert (event.paper_id, event.signal.value, event.source.value) == (paper, "saved", "digest")
    context.close()


def test_admin_pages_api_docs_and_sign_in_link_page(served, browser, tmp_path):
    url = served["url"]
    context, tab = signed_in(browser, url, served["keys"]["admin"], lands="/explore")
    tab.goto(f"{url}/admin")
    assert tab.get_by_role("heading", level=1).inner_text()
    photograph(browser, f"{url}/admin", context.cookies(), tmp_path, "admin")
    photograph(browser, f"{url}/docs", [], tmp_path, "docs", ready=".opblock")
    photograph(browser, f"{url}/signin/link/not-a-token", [], tmp_path, "bad-link", status=403)
    context.close()
