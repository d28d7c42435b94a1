"""Shared pieces of the web app tests (not a test module): a private trained home with two
readers, the CSRF token of a page, and the sign-in link of an email."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from digest_helpers import copy_trained_home

SECRET = "web-test-secret-0123456789-abcdef"
# A BibTeX file to import: one arXiv paper the store does not hold yet.
BIBTEX = """@article{known,
  title = {A paper the store does not hold yet},
  author = {Doe, Jane and Roe, Richard},
  abstract = {We study how readers import papers they like into a recommender.},
  eprint = {2499.00001},
  archivePrefix = {arXiv},
}
"""
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SIGNIN_LINK = re.compile(r"(https?://\S+/signin/link/[A-Za-z0-9_.-]+)")


def readers_home(trained_home, session_cache, target: Path) -> tuple[Path, dict]:
    """A copy of the trained home with readers ada (three seed papers about language
    models, chosen near the newest date) and bob (one seed); returns (home, facts)."""
    from paperrec.config import Settings
    from paperrec.store import Store
    from paperrec.users.profiles import add_user

    home = copy_trained_home(trained_home, session_cache, target)
    store = Store(Settings(home=home))
    newest = store.papers.latest_date()
    month = store.papers.iter_papers(since=newest - dt.timedelta(days=30), until=newest)
    seeds = [p.id for p in month if "language model" in p.text.lower()][:3]
    add_user(store, "ada", "ada@example.org", seeds=[",".join(seeds)])
    add_user(store, "bob", "bob@example.org", seeds=[month[0].id])
    keys = {"ada": store.keys.create("ada"), "admin": store.keys.create(None)}
    return home, {"newest": newest, "seeds": seeds, "keys": keys}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def link_in(message) -> str:
    found = SIGNIN_LINK.search(message.get_body(("plain",)).get_content())
    assert found, "no sign-in link in the email"
    return found.group(1)
