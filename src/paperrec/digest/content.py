"""What a user's digest says, before any format: the recommended papers as the reader sees
them (`Item`: title, authors, a short summary, topic tags, a "why" line and signed feedback
links), the trending section and `DigestContent`, built by `build_content` from the shared
ranking's `RankedPaper` list. Pure: no network, no store, no disk. Rendering it is
`paperrec.digest.render`'s job, choosing the papers `paperrec.digest.compose`'s.

Every paper carries one feedback link per signal (up, down, saved, dismissed). A link is
``{public_url}`` + `FEEDBACK_PATH` with a token from `paperrec.users.tokens.make_token` that says
who votes what on which paper and until when, so a click needs no login.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from paperrec.recommend.rank import RankedPaper
from paperrec.schema import FEEDBACK_SIGNALS, Paper, Signal, split_arxiv_id
from paperrec.users.tokens import DEFAULT_TTL, make_token

# Where the service takes a click (service/service.py mounts the links app at /feedback and
# answers GET /{token}); the only place the path is spelled out.
FEEDBACK_PATH = "/feedback/{token}"
LINK_TTL = DEFAULT_TTL
SIGNAL_LABELS = {
    Signal.UP: "👍 More like this",
    Signal.DOWN: "👎 Less like this",
    Signal.SAVED: "Save",
    Signal.DISMISSED: "Dismiss",
}
SUMMARY_CHARS = 320


class TopicTag(NamedTuple):
    """A topic label on a paper: the classifier's probability and the threshold it cleared
    (thresholds maximise F1 and most sit below 0.5, so both are shown)."""

    id: str
    name: str
    probability: float
    threshold: float


@dataclass(frozen=True)
class Item:
    """One recommended paper as the reader sees it, with its topic labels."""

    id: str
    rank: int
    score: float
    title: str
    authors: tuple[str, ...]
    summary: str
    abs_url: str | None
    pdf_url: str | None
    topics: tuple[TopicTag, ...]
    why: str
    reasons: tuple[str, ...]
    links: tuple[dict, ...]  # {"signal", "label", "url"}, in FEEDBACK_SIGNALS order


@dataclass(frozen=True)
class Trending:
    """A paper many readers liked lately; ``likes`` is how many users voted it up or saved it."""

    id: str
    title: str
    authors: tuple[str, ...]
    abs_url: str | None
    pdf_url: str | None
    likes: int


@dataclass(frozen=True)
class DigestContent:
    """Everything a digest says, before it is turned into any format."""

    user: str
    email: str
    date: dt.date
    items: tuple[Item, ...]
    trending: tuple[Trending, ...] = ()
    since: dt.date | None = None  # first announcement date the digest covers
    settings_line: str = ""
    public_url: str = ""
    links_expire: dt.date | None = None

    @property
    def kind(self) -> str:
        """``digest`` with papers, else ``notice`` (nothing new today)."""
        return "digest" if self.items else "notice"

    @property
    def subject(self) -> str:
        n = len(self.items)
        what = f"{n} new paper{'s' if n != 1 else ''} for you" if n else "nothing new today"
        return f"paperrec: {what} ({self.date.isoformat()})"


def arxiv_url(paper_id: str) -> str | None:
    """``https://arxiv.org/abs/<id>`` when ``paper_id`` is an arXiv id, else None."""
    parsed = split_arxiv_id(paper_id)
    return f"https://arxiv.org/abs/{parsed[0]}" if parsed else None


def pdf_url(paper_id: str) -> str | None:
    """``https://arxiv.org/pdf/<id>`` when ``paper_id`` is an arXiv id, else None."""
    parsed = split_arxiv_id(paper_id)
    return f"https://arxiv.org/pdf/{parsed[0]}" if parsed else None


def feedback_url(public_url: str, token: str) -> str:
    """The link a click on ``token`` goes to."""
    return public_url.rstrip("/") + FEEDBACK_PATH.format(token=quote(token, safe=""))


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-")
    return cut + "…"


def why_line(reasons: Sequence[dict], topic_names: Mapping[str, str] | None = None) -> str:
    """One short line from the ranker's reasons (`paperrec.recommend.explain`); a reason
    without the fields its kind usually has contributes its ``text``."""
    names = topic_names or {}
    parts = []
    for reason in reasons:
        kind = reason.get("kind")
        if kind == "similar_to_liked" and reason.get("title"):
            parts.append(f"close to “{shorten(reason['title'], 70)}”, which you liked")
        elif kind == "shared_terms" and reason.get("terms"):
            parts.append("shares " + ", ".join(reason["terms"]))
        elif kind == "matched_topics" and reason.get("topics"):
            parts.append("on your topics: " + ", ".join(names.get(t, t) for t in reason["topics"]))
        elif kind == "similar_to_disliked" and reason.get("title"):
            title = shorten(reason["title"], 50)
            parts.append(f"ranked lower: close to “{title}”, which you disliked")
        elif reason.get("text"):
            parts.append(reason["text"])
    line = " · ".join(parts)
    return line[:1].upper() + line[1:]


def make_item(
    ranked: RankedPaper,
    paper: Paper | None,
    topics: Sequence[TopicTag],
    *,
    user: tuple[str, int],
    secret,
    public_url: str,
    ttl: dt.timedelta,
    now: float,
    topic_names: Mapping[str, str] | None = None,
) -> Item:
    """The reader's view of one ranked paper, with signed feedback links for ``user``
    (the user's uid and token generation)."""
    uid, generation = user
    links = []
    for signal in FEEDBACK_SIGNALS:
        token = make_token(secret, uid, ranked.id, signal, ttl, generation=generation, now=now)
        url = feedback_url(public_url, token)
        links.append({"signal": signal.value, "label": SIGNAL_LABELS[signal], "url": url})
    return Item(
        id=ranked.id,
        rank=ranked.rank,
        score=ranked.score,
        title=(paper.title if paper else ranked.title) or ranked.title or ranked.id,
        authors=tuple(paper.authors) if paper else (),
        summary=shorten(paper.abstract, SUMMARY_CHARS) if paper else "",
        abs_url=arxiv_url(ranked.id),
        pdf_url=pdf_url(ranked.id),
        topics=tuple(topics),
        why=why_line(ranked.reasons, topic_names),
        reasons=tuple(r["text"] for r in ranked.reasons if r.get("text")),
        links=tuple(links),
    )


def make_trending(paper: Paper, likes: int) -> Trending:
    return Trending(
        paper.id, paper.title, tuple(paper.authors), arxiv_url(paper.id), pdf_url(paper.id), likes
    )


def build_content(
    user: str,
    email: str,
    ranked: Sequence[RankedPaper],
    *,
    secret,
    public_url: str,
    date: dt.date,
    papers: Mapping[str, Paper] | None = None,
    topics: Mapping[str, Sequence[TopicTag]] | None = None,
    topic_names: Mapping[str, str] | None = None,
    trending: Sequence[Trending] = (),
    since: dt.date | None = None,
    settings_line: str = "",
    ttl: dt.timedelta = LINK_TTL,
    now: float | None = None,
    link_user: tuple[str, int] | None = None,
) -> DigestContent:
    """``user``'s digest of ``ranked`` papers (best first; none: a "nothing new" notice).

    Parameters
    ----------
    ranked
        The papers as the shared ranking returns them, best first.
    secret, public_url
        The feedback-token secret (None raises a readable error) and the base URL of the
        service that takes the clicks (``Settings.token_secret``, ``Settings.public_url``).
    papers, topics, topic_names
        Stored papers by id (authors, abstract), topic tags by paper id (`TopicTag`), and
        topic names by id for the reasons; all optional.
    trending, since, settings_line
        The trending section, the first date covered, a line describing the user's budget.
    ttl, now
        How long the links stay valid, counted from ``now`` (Unix time; default: the clock).
    link_user
        (``User.uid``, ``User.token_generation``) signed into the links; the stored user's,
        as `paperrec.digest.compose` passes. Default (``user``, 0): links for a preview
        that no server will accept.
    """
    issued = time.time() if now is None else now
    papers, topics = papers or {}, topics or {}
    items = tuple(
        make_item(
            r,
            papers.get(r.id),
            topics.get(r.id, ()),
            user=link_user or (user, 0),
            secret=secret,
            public_url=public_url,
            ttl=ttl,
            now=issued,
            topic_names=topic_names,
        )  # fmt: skip
        for r in ranked
    )
    return DigestContent(
        user=user,
        email=email,
        date=date,
        items=items,
        trending=tuple(trending),
        since=since,
        settings_line=settings_line,
        public_url=public_url.rstrip("/"),
        links_expire=dt.datetime.fromtimestamp(issued + ttl.total_seconds(), dt.UTC).date(),
    )
