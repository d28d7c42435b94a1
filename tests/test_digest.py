"""Digest content and rendering (paperrec.digest.content, .render) and SMTP (.mailer).

SMTP runs against a real aiosmtpd server on 127.0.0.1, with STARTTLS and implicit TLS on a
self-signed certificate made in the test. The outbox, budgets and ``paperrec digest`` are
in test_digest_outbox.py and test_digest_budget.py; the browser check in
test_digest_chromium.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import ssl
import time

import pytest
from aiosmtpd.smtp import AuthResult

from digest_helpers import LINK, PUBLIC_URL, SECRET, Inbox, SmtpServers, free_port, make_certificate
from paperrec.config import Settings
from paperrec.digest import mailer
from paperrec.digest.content import (
    FEEDBACK_PATH,
    TopicTag,
    build_content,
    make_trending,
    why_line,
)
from paperrec.digest.render import Digest, render, render_email
from paperrec.errors import InputError, NetworkError, PaperrecError
from paperrec.recommend.rank import RankedPaper
from paperrec.schema import Paper, Signal
from paperrec.users.tokens import verify_token


def ranked(*titles: str) -> list[RankedPaper]:
    reason = {
        "kind": "similar_to_liked",
        "text": "close to a paper you liked: 'Graphs' (cosine 0.71)",
    }
    ids = ["2401.00001", "title:0123456789abcdef", "hep-th/9901001"]
    return [RankedPaper(ids[i], 0.9 - i / 10, i + 1, [reason], t) for i, t in enumerate(titles)]


def email_of(papers, user="ada", **kwargs) -> Digest:
    content = build_content(
        user, f"{user}@example.org", papers, secret=SECRET, public_url=PUBLIC_URL,
        date=dt.date(2024, 3, 1), **kwargs,
    )  # fmt: skip
    return render_email(content)


REASONS = [
    {"kind": "similar_to_liked", "paper_id": "2301.1", "title": "Graph Transformers at Scale",
     "similarity": 0.71, "text": "close to a paper you liked: 'Graph Transformers at Scale'"},
    {"kind": "shared_terms", "terms": ["graph", "attention"], "text": "shares terms: graph"},
    {"kind": "matched_topics", "topics": {"gnn": 0.93}, "text": "on your topics: gnn (0.93)"},
]  # fmt: skip


def full_content(trending=True, papers=2):
    """A digest with authors, tags, reasons and a trending section, as compose builds it."""
    stored = {
        "2401.00001": Paper.create(
            "Sparse <Attention> & Graphs", "We study sparse attention on graphs. " * 20,
            id="2401.00001", authors=[f"Author {i}" for i in range(9)],
        ),
        "title:0123456789abcdef": Paper.create("A Paper Without an arXiv Id", "Abstract."),
    }  # fmt: skip
    ids = list(stored)[:papers]
    items = [
        RankedPaper(pid, 2.5 - i, i + 1, REASONS, stored[pid].title) for i, pid in enumerate(ids)
    ]
    liked = Paper.create("Popular Paper", "Liked by many.", id="2402.00002", authors=["P. Q"])
    return build_content(
        "ada", "ada@example.org", items, secret=SECRET, public_url=PUBLIC_URL,
        date=dt.date(2024, 3, 1), papers=stored,
        topics={
            "2401.00001": [
                TopicTag("gnn", "Graph neural networks", 0.93, 0.3),
                TopicTag("llm", "LLMs", 0.61, 0.45),
            ]
        },
        topic_names={"gnn": "Graph neural networks"},
        trending=[make_trending(liked, 3)] if trending else [], since=dt.date(2024, 2, 29),
        settings_line="daily, up to 10 papers",
    )  # fmt: skip


# -- rendering ----------------------------------------------------------------------------
def test_links_carry_tokens_for_the_right_user_paper_and_signal():
    # The links name the user by immutable uid at its token generation (issue 13, item 7),
    # not by name: what compose passes as link_user is what the tokens say.
    papers = ranked("Sparse Attention", "Graph Networks", "Old Strings")
    content = build_content(
        "ada", "ada@example.org", papers, secret=SECRET, public_url=PUBLIC_URL,
        date=dt.date(2024, 3, 1), link_user=("u-7f3a", 4),
    )  # fmt: skip
    digest = render_email(content)
    assert FEEDBACK_PATH.startswith("/feedback/")
    for body in (digest.html, digest.text):
        found = [verify_token(SECRET, token) for token in LINK.findall(body)]
        expected = [("u-7f3a", p.id, s, 4) for p in papers for s in Signal if s is not Signal.SEED]
        assert sorted(found) == sorted(expected)
    assert digest.paper_ids == tuple(p.id for p in papers)
    assert digest.subject == "paperrec: 3 new papers for you (2024-03-01)"


def test_a_preview_without_a_stored_user_signs_the_name_at_generation_zero():
    # render_digest (no link_user) is a preview: its links name 'ada', which is no user's
    # uid, so no server accepts them (serving.links looks users up by uid).
    digest = email_of(ranked("Sparse Attention"))
    claims = {verify_token(SECRET, token) for token in LINK.findall(digest.text)}
    assert {(c.user_uid, c.generation) for c in claims} == {("ada", 0)}


def test_links_expire_after_the_ttl():
    now = time.time()
    digest = email_of(ranked("A"), ttl=dt.timedelta(hours=1), now=now)
    token = LINK.search(digest.text).group(1)
    assert verify_token(SECRET, token, now=now + 3599)[0] == "ada"
    with pytest.raises(PaperrecError, match="expired"):
        verify_token(SECRET, token, now=now + 3601)


def test_html_escapes_titles_and_reasons_text_keeps_them():
    title = '<script>alert("x")</script> & <b>Bold</b>'
    digest = email_of(ranked(title))
    assert "<script>" not in digest.html and "<b>Bold" not in digest.html
    assert "&lt;script&gt;" in digest.html and "&amp;" in digest.html
    assert title in digest.text


def test_both_bodies_list_the_same_papers_with_rank_score_reasons_and_arxiv_links():
    digest = email_of(ranked("Sparse Attention", "Graph Networks", "Old Strings"))
    for body in (digest.html, digest.text):
        positions = [body.index(t) for t in ("Sparse Attention", "Graph Networks", "Old Strings")]
        assert positions == sorted(positions)
        assert "score 0.900" in body and "score 0.700" in body
        assert "close to a paper you liked" in body.lower()
        assert "https://arxiv.org/abs/2401.00001" in body
        assert "https://arxiv.org/pdf/hep-th/9901001" in body
        assert "arxiv.org/abs/title:" not in body  # no arXiv link for a title-keyed paper
        assert "ada@example.org is subscribed to paperrec digests as user 'ada'" in body.replace(
            "&#39;", "'"
        )


def test_items_show_authors_tags_why_and_links_in_every_format():
    content = full_content()
    email = render_email(content)
    for text in (email.html, email.text, render(content, "html"), render(content, "markdown")):
        assert "Author 0, Author 1, Author 2, Author 3, Author 4 et al. (9 authors)" in text
        assert "Graph neural networks 0.93 (≥0.30)" in text.replace("**", "")
        assert "the threshold at which that topic is labelled" in text
        assert "which you liked" in text and "shares graph, attention" in text
        assert "https://arxiv.org/pdf/2401.00001" in text
        assert "Popular Paper" in text and "liked by 3 readers" in text
        assert len(LINK.findall(text)) == 2 * 4
    data = json.loads(render(content, "json"))
    first = data["items"][0]
    assert first["authors"] == [f"Author {i}" for i in range(9)]
    assert first["topics"][0] == {
        "id": "gnn", "name": "Graph neural networks", "probability": 0.93, "threshold": 0.3
    }  # fmt: skip
    assert first["why"].startswith("Close to “Graph Transformers at Scale”, which you liked")
    assert first["why"].endswith("on your topics: Graph neural networks")
    assert verify_token(SECRET, LINK.search(first["feedback"]["down"]).group(1))[2] == Signal.DOWN
    assert first["abs_url"] == "https://arxiv.org/abs/2401.00001"
    assert data["items"][1]["abs_url"] is None and data["items"][1]["pdf_url"] is None
    assert data["trending"][0]["likes"] == 3 and data["kind"] == "digest"
    assert (data["date"], data["since"]) == ("2024-03-01", "2024-02-29")


def test_markdown_escapes_markup_in_titles():
    text = render(full_content(), "markdown")
    assert "[Sparse <Attention> & Graphs]" not in text
    assert "[Sparse \\<Attention\\> & Graphs](https://arxiv.org/abs/2401.00001)" in text


def test_html_is_phone_and_dark_mode_ready():
    for html in (render_email(full_content()).html, render(full_content(), "html")):
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert '<meta name="color-scheme" content="light dark">' in html
        assert "@media (prefers-color-scheme: dark)" in html
        assert "max-width:680px" in html
    page, mail = render(full_content(), "html"), render_email(full_content()).html
    assert "do not forward this page" in page and "do not forward this email" in mail


def test_nothing_new_is_a_notice_not_an_error():
    content = full_content(papers=0)
    email = render_email(content)
    assert email.kind == "notice" and email.paper_ids == ()
    assert email.subject == "paperrec: nothing new today (2024-03-01)"
    assert "No new papers matched your profile" in email.text
    assert "Popular Paper" in email.html  # the trending section still comes
    assert not LINK.findall(email.html)


def test_why_line_falls_back_to_the_reason_text():
    assert why_line([{"kind": "new_kind", "text": "because"}]) == "Because"
    assert why_line([]) == ""


def test_rendering_needs_a_secret_papers_and_a_known_format():
    with pytest.raises(PaperrecError, match="PAPERREC_TOKEN_SECRET"):
        build_content(
            "ada", "a@b.org", ranked("A"), secret=None, public_url=PUBLIC_URL,
            date=dt.date(2024, 3, 1),
        )  # fmt: skip
    with pytest.raises(InputError, match="unknown digest format 'pdf'; available: email, html"):
        render(full_content(), "pdf")


# -- SMTP ---------------------------------------------------------------------------------
@pytest.fixture()
def smtp_server():
    """Start aiosmtpd servers on 127.0.0.1; returns a function (inbox, **controller kwargs)."""
    servers = SmtpServers()
    yield servers.start
    servers.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture()
def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture()
def trust_test_cert(certificate, monkeypatch):
    """The mailer's verifying context, also trusting the test certificate."""
    real = mailer.tls_context

    def context():
        ctx = real()
        ctx.load_verify_locations(cafile=str(certificate[0]))
        return ctx

    monkeypatch.setattr(mailer, "tls_context", context)


def smtp_settings(tmp_path, port, security="plain", **extra) -> Settings:
    return Settings(
        home=tmp_path / "home", smtp_host="127.0.0.1", smtp_port=port, smtp_security=security,
        smtp_from="paperrec <digest@example.org>", smtp_timeout=5, **extra,
    )  # fmt: skip


def test_plain_send_arrives_with_both_parts_and_warns(smtp_server, tmp_path, caplog):
    inbox, port = smtp_server()
    digest = email_of(ranked("Sparse Attention", "Graph Networks"))
    with caplog.at_level(logging.WARNING, logger="paperrec.digest.mailer"):
        mailer.send_digest(digest, smtp_settings(tmp_path, port))
    assert any("UNENCRYPTED" in r.getMessage() for r in caplog.records)
    (session, message), = inbox.messages  # fmt: skip
    assert message["To"] == "ada@example.org" and message["Subject"] == digest.subject
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert plain.splitlines() == digest.text.splitlines()  # lines end in CRLF on the wire
    assert html.splitlines() == digest.html.splitlines()


def test_starttls_with_login_is_encrypted(
    smtp_server, tmp_path, server_tls, trust_test_cert, monkeypatch
):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"hunter2-long")

    inbox, port = smtp_server(
        tls_context=server_tls, require_starttls=True, authenticator=authenticator
    )
    monkeypatch.setenv("PAPERREC_SMTP_PASSWORD", "hunter2-long")
    settings = smtp_settings(tmp_path, port, "starttls", smtp_username="paperrec")
    assert "hunter2" not in str(settings.public_dict())
    mailer.send_digest(email_of(ranked("A")), settings)
    (session, _), = inbox.messages  # fmt: skip
    assert session.ssl is not None  # the mail went over the upgraded connection
    assert logins == [(b"paperrec", b"hunter2-long")]


def test_implicit_tls(smtp_server, tmp_path, server_tls, trust_test_cert):
    inbox, port = smtp_server(ssl_context=server_tls)
    mailer.send_digest(email_of(ranked("A")), smtp_settings(tmp_path, port, "ssl"))
    assert len(inbox.messages) == 1


def test_untrusted_certificate_is_refused(smtp_server, tmp_path, server_tls):
    inbox, port = smtp_server(tls_context=server_tls)
    with pytest.raises(
        NetworkError, match=rf"^SMTP 127\.0\.0\.1:{port}: TLS certificate not trusted"
    ):
        mailer.send_digest(email_of(ranked("A")), smtp_settings(tmp_path, port, "starttls"))
    assert inbox.messages == []


def test_starttls_required_but_not_offered_is_refused_not_downgraded(smtp_server, tmp_path, caplog):
    inbox, port = smtp_server()  # no tls_context: the server does not offer STARTTLS
    with pytest.raises(NetworkError) as error:
        mailer.send_digest(email_of(ranked("A")), smtp_settings(tmp_path, port, "starttls"))
    assert str(error.value).startswith(f"SMTP 127.0.0.1:{port} does not offer STARTTLS")
    assert "PAPERREC_SMTP_SECURITY=plain" in str(error.value)
    assert inbox.messages == []


def test_dead_server_fails_fast_with_one_line(tmp_path):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(NetworkError) as error:
        mailer.send_digest(email_of(ranked("A")), smtp_settings(tmp_path, port))
    assert time.monotonic() - start < 3
    assert str(error.value) == (
        f"SMTP 127.0.0.1:{port}: connection refused (is the SMTP server running on this port?)"
    )
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_silent_server_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = smtp_settings(tmp_path, port).model_copy(update={"smtp_timeout": 0.5})
        with pytest.raises(NetworkError, match=r"no answer within 0\.5 s"):
            mailer.send_digest(email_of(ranked("A")), settings)


def test_login_without_password_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERREC_SMTP_PASSWORD", raising=False)
    settings = smtp_settings(tmp_path, free_port(), smtp_username="paperrec")
    with pytest.raises(PaperrecError, match="PAPERREC_SMTP_PASSWORD"):
        mailer.send_digest(email_of(ranked("A")), settings)


def test_handover_comes_after_the_recipient_is_accepted(smtp_server, tmp_path):
    inbox, port = smtp_server(Inbox(refuse={"bob@example.org"}))
    settings = smtp_settings(tmp_path, port)
    calls = []
    mailer.send_digest(
        email_of(ranked("A")), settings, message_id="<fixed@example.org>",
        on_handover=lambda: calls.append(len(inbox.messages)),
    )  # fmt: skip
    assert calls == [0]  # called once, before the message itself went over
    (_, message), = inbox.messages  # fmt: skip
    assert message["Message-ID"] == "<fixed@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    with pytest.raises(NetworkError, match="550 5.1.1 no such mailbox"):
        mailer.send_digest(
            email_of(ranked("A"), user="bob"), settings, on_handover=lambda: calls.append("bob")
        )
    assert calls == [0] and len(inbox.messages) == 1
