"""A reader's preferences as the web settings form edits them: digest budget, chosen
topics and email, checked as a whole before any of it is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from paperrec.digest.budget import CADENCES, DigestSettings, format_quota, parse_quota
from paperrec.errors import InputError
from paperrec.store import Store
from paperrec.users.profiles import parse_topics


@dataclass(frozen=True)
class Preferences:
    email: str
    topics: tuple[str, ...]
    digest: DigestSettings

    @property
    def quota_text(self) -> str:
        return format_quota(self.digest.topic_quota)


def preferences(store: Store, user: str) -> Preferences:
    account = store.users.get(user)
    return Preferences(account.email, account.topics, store.users.digest_settings(user))


def _number(form: Mapping[str, str], name: str, kind, label: str):
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"{label} must be a number, got {text!r}") from None


def save_preferences(
    store: Store, user: str, form: Mapping[str, str], topics: list[str], known_topics: set[str]
) -> Preferences:
    """Check the whole form, then store email, topics and digest budget.

    ``form`` holds k, min_score, cadence, topic_quota, trending, empty_notice and email
    as the browser sent them; ``topics`` the ticked topic ids.
    """
    cadence = str(form.get("cadence", "daily"))
    if cadence not in CADENCES:
        raise InputError(f"cadence must be one of {', '.join(CADENCES)}")
    k = _number(form, "k", int, "papers per digest")
    digest = DigestSettings(
        k=10 if k is None else k,
        min_score=_number(form, "min_score", float, "minimum score"),
        cadence=cadence,
        topic_quota=parse_quota(str(form.get("topic_quota", "")), known_topics),
        empty_notice=form.get("empty_notice") == "on",
        trending=form.get("trending") == "on",
    )
    chosen = parse_topics(topics, known_topics)
    email = str(form.get("email", "")).strip()
    store.users.set_email(user, email)
    store.users.set_topics(user, chosen)
    store.users.set_digest_settings(user, digest)
    return preferences(store, user)
