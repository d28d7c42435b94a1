"""The HTML digest in a real browser: Debian's headless Chromium renders the page and the
email's HTML part; every item and link must be in the rendered DOM, and screenshots (wide,
phone, dark) are saved under the test's temp dir. Skips when ``chromium`` is not installed
(``make test`` installs it)."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image  # a dependency of matplotlib, which paperrec requires

from digest_helpers import cli, home_with_users
from paperrec.config import Settings
from paperrec.schema import split_arxiv_id
from paperrec.store import Store

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (make test installs it: apt-get install chromium)",
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


class Dom(HTMLParser):
    """Links (href -> the text of each link to it) and visible text of a rendered DOM."""

    def __init__(self, markup: str):
        super().__init__()
        self.links: dict[str, list[str]] = {}
        self.text: list[str] = []
        self._href: str | None = None
        self._hidden = 0
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self._href = attrs.get("href")
            self.links.setdefault(self._href, []).append("")
        if tag in ("style", "title", "script") or "display:none" in (attrs.get("style") or ""):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag == "a":
            self._href = None
        if tag in ("style", "title", "script") or (tag == "div" and self._hidden):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data):
        if self._href is not None:
            self.links[self._href][-1] += data
        if not self._hidden:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def chromium(page: Path, profile: Path, *extra: str) -> str:
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture()
def rendered(trained_home, session_cache, tmp_path, monkeypatch) -> dict:
    """ada's digest (with the trending section) as a page, an email and JSON."""
    day = home_with_users(trained_home, session_cache, tmp_path / "home", monkeypatch)
    papers = Store(Settings()).papers.iter_papers(limit=500)
    liked = next(p.id for p in papers if split_arxiv_id(p.id))  # with abstract and PDF links
    assert cli("feedback", "bob", liked, "up").exit_code == 0  # something trends
    assert cli("user", "set", "ada", "--trending").exit_code == 0
    out = tmp_path / "out"
    result = cli("digest", "--user", "ada", "--date", day, "--dry-run", "--out", str(out),
                 "--format", "html", "--format", "email", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    message = email.message_from_bytes((out / f"{day}-ada.eml").read_bytes(),
                                       policy=email.policy.default)  # fmt: skip
    part = out / "email-part.html"
    part.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
    return {
        "page": out / f"{day}-ada.html",
        "email": part,
        "data": json.loads((out / f"{day}-ada.json").read_text(encoding="utf-8")),
    }


@pytest.mark.parametrize("which", ["page", "email"])
def test_every_item_and_link_is_in_the_rendered_dom(rendered, tmp_path, which):
    data = rendered["data"]
    dom = Dom(chromium(rendered[which], tmp_path / "profile", "--dump-dom"))
    assert len(data["items"]) == 10 and data["trending"]
    for item in data["items"]:
        assert item["title"] in dom.visible
        assert dom.links[item["abs_url"]] == [item["title"], "Abstract"]
        assert dom.links[item["pdf_url"]] == ["PDF"]
        labels = {text for url in item["feedback"].values() for text in dom.links[url]}
        assert labels == {"👍 More like this", "👎 Less like this", "Save", "Dismiss"}
        for name in item["authors"][:4]:
            assert name in dom.visible
        for topic in item["topics"]:
            assert f"{topic['name']} {topic['probability']:.2f}" in dom.visible
        assert item["why"][:40] in dom.visible
    for paper in data["trending"]:
        assert paper["title"] in dom.visible and "liked by 1 reader" in dom.visible
        assert dom.links[paper["abs_url"]] == [paper["title"]] and paper["pdf_url"] in dom.links
    assert "10 new papers for ada" in dom.visible
    expected = {u for i in data["items"] for u in (i["abs_url"], i["pdf_url"])}
    expected |= {u for i in data["items"] for u in i["feedback"].values()}
    expected |= {t["abs_url"] for t in data["trending"]} | {t["pdf_url"] for t in data["trending"]}
    for item in data["items"]:  # the "at a glance" list jumps to each paper
        assert dom.links[f"#paper-{item['rank']}"] == [f"{item['rank']}. {item['title']}"]
        expected.add(f"#paper-{item['rank']}")
    assert set(dom.links) == expected  # nothing missing, nothing unexpected


def test_screenshots_wide_phone_and_dark(rendered, tmp_path):
    shots = {
        "digest.png": ("--window-size=1024,2400",),
        "digest-phone.png": ("--window-size=390,2400",),
        "digest-dark.png": ("--window-size=1024,1200", "--blink-settings=preferredColorScheme=0"),
    }
    for n, (name, flags) in enumerate(shots.items()):
        target = tmp_path / name
        chromium(rendered["page"], tmp_path / f"profile-{n}", f"--screenshot={target}", *flags)
        assert png_size(target) == tuple(int(v) for v in flags[0].split("=")[1].split(","))
    light = Image.open(tmp_path / "digest.png").convert("L")
    dark = Image.open(tmp_path / "digest-dark.png").convert("L")
    assert light.getpixel((5, 5)) > 200 and dark.getpixel((5, 5)) < 60  # page background
    phone = Image.open(tmp_path / "digest-phone.png").convert("L")
    right_edge = [phone.getpixel((385, y)) for y in range(0, 2400, 10)]
    assert min(right_edge) > 200  # nothing runs off a phone screen: the edge stays background
