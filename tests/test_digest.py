"""Digest emails: rendering (paperrec.digest), SMTP (paperrec.mailer), ``paperrec digest``.

SMTP runs against a real aiosmtpd server on 127.0.0.1, with STARTTLS and implicit TLS on a
self-signed certificate made in the test; the CLI runs on a copy of the trained install.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import re
import shutil
import socket
import sqlite3
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from typer.testing import CliRunner

from paperrec import mailer
from paperrec.cli import app
from paperrec.config import Settings
from paperrec.digest import FEEDBACK_PATH, Digest, render_digest
from paperrec.errors import NetworkError, PaperrecError
from paperrec.recommend.rank import RankedPaper
from paperrec.schema import Signal
from paperrec.store import Store
from paperrec.tokens import verify_token

SECRET = "a-test-secret-of-enough-bytes-0123456789"
PUBLIC_URL = "https://papers.example.org/"
LINK = re.compile(r"https://papers\.example\.org/feedback/([A-Za-z0-9_.%-]+)")


def ranked(*titles: str) -> list[RankedPaper]:
    reason = {
        "kind": "similar_to_liked",
        "text": "close to a paper you liked: 'Graphs' (cosine 0.71)",
    }
    ids = ["2401.00001", "title:0123456789abcdef", "hep-th/9901001"]
    return [RankedPaper(ids[i], 0.9 - i / 10, i + 1, [reason], t) for i, t in enumerate(titles)]


def render(papers, user="ada", **kwargs) -> Digest:
    return render_digest(
        user, f"{user}@example.org", papers, secret=SECRET, public_url=PUBLIC_URL,
        date=dt.date(2024, 3, 1), **kwargs,
    )  # fmt: skip


# -- rendering ----------------------------------------------------------------------------
def test_links_carry_tokens_for_the_right_user_paper_and_signal():
    papers = ranked("Sparse Attention", "Graph Networks", "Old Strings")
    digest = render(papers)
    assert FEEDBACK_PATH.startswith("/feedback/")
    for body in (digest.html, digest.text):
        found = [verify_token(SECRET, token) for token in LINK.findall(body)]
        expected = [("ada", p.id, s) for p in papers for s in Signal if s is not Signal.SEED]
        assert sorted(found) == sorted(expected)
    assert digest.paper_ids == tuple(p.id for p in papers)
    assert digest.subject == "paperrec: 3 new papers for you (2024-03-01)"


def test_links_expire_after_the_ttl():
    now = time.time()
    digest = render(ranked("A"), ttl=dt.timedelta(hours=1), now=now)
    token = LINK.search(digest.text).group(1)
    assert verify_token(SECRET, token, now=now + 3599)[0] == "ada"
    with pytest.raises(PaperrecError, match="expired"):
        verify_token(SECRET, token, now=now + 3601)


def test_html_escapes_titles_and_reasons_text_keeps_them():
    title = '<script>alert("x")</script> & <b>Bold</b>'
    digest = render(ranked(title))
    assert "<script>" not in digest.html and "<b>Bold" not in digest.html
    assert "&lt;script&gt;" in digest.html and "&amp;" in digest.html
    assert title in digest.text


def test_both_bodies_list_the_same_papers_with_rank_score_reasons_and_arxiv_links():
    digest = render(ranked("Sparse Attention", "Graph Networks", "Old Strings"))
    for body in (digest.html, digest.text):
        positions = [body.index(t) for t in ("Sparse Attention", "Graph Networks", "Old Strings")]
        assert positions == sorted(positions)
        assert "score 0.900" in body and "score 0.700" in body
        assert "close to a paper you liked" in body
        assert "https://arxiv.org/abs/2401.00001" in body
        assert "https://arxiv.org/abs/hep-th/9901001" in body
        assert "arxiv.org/abs/title:" not in body  # no arXiv link for a title-keyed paper
        assert "ada@example.org is subscribed to paperrec digests as user 'ada'" in body.replace(
            "&#39;", "'"
        )


def test_rendering_needs_a_secret_and_papers():
    with pytest.raises(PaperrecError, match="PAPERREC_TOKEN_SECRET"):
        render_digest("ada", "a@b.org", ranked("A"), secret=None, public_url=PUBLIC_URL)
    with pytest.raises(PaperrecError, match="no papers"):
        render([])


# -- SMTP ---------------------------------------------------------------------------------
class Inbox:
    """aiosmtpd handler keeping what arrives; refuses recipients listed in ``refuse``."""

    def __init__(self, refuse=()):
        self.messages: list[tuple[object, email.message.EmailMessage]] = []
        self.refuse = set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((session, parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def smtp_server():
    """Start aiosmtpd servers on 127.0.0.1; returns a function (inbox, **controller kwargs)."""
    started = []

    def start(inbox=None, **kwargs):
        inbox = inbox or Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return inbox, controller.port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([address]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


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
    digest = render(ranked("Sparse Attention", "Graph Networks"))
    with caplog.at_level(logging.WARNING, logger="paperrec.mailer"):
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
    mailer.send_digest(render(ranked("A")), settings)
    (session, _), = inbox.messages  # fmt: skip
    assert session.ssl is not None  # the mail went over the upgraded connection
    assert logins == [(b"paperrec", b"hunter2-long")]


def test_implicit_tls(smtp_server, tmp_path, server_tls, trust_test_cert):
    inbox, port = smtp_server(ssl_context=server_tls)
    mailer.send_digest(render(ranked("A")), smtp_settings(tmp_path, port, "ssl"))
    assert len(inbox.messages) == 1


def test_untrusted_certificate_is_refused(smtp_server, tmp_path, server_tls):
    inbox, port = smtp_server(tls_context=server_tls)
    with pytest.raises(
        NetworkError, match=rf"^SMTP 127\.0\.0\.1:{port}: TLS certificate not trusted"
    ):
        mailer.send_digest(render(ranked("A")), smtp_settings(tmp_path, port, "starttls"))
    assert inbox.messages == []


def test_starttls_required_but_not_offered_is_refused_not_downgraded(smtp_server, tmp_path, caplog):
    inbox, port = smtp_server()  # no tls_context: the server does not offer STARTTLS
    with pytest.raises(NetworkError) as error:
        mailer.send_digest(render(ranked("A")), smtp_settings(tmp_path, port, "starttls"))
    assert str(error.value).startswith(f"SMTP 127.0.0.1:{port} does not offer STARTTLS")
    assert "PAPERREC_SMTP_SECURITY=plain" in str(error.value)
    assert inbox.messages == []


def test_dead_server_fails_fast_with_one_line(tmp_path):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(NetworkError) as error:
        mailer.send_digest(render(ranked("A")), smtp_settings(tmp_path, port))
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
            mailer.send_digest(render(ranked("A")), settings)


def test_login_without_password_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERREC_SMTP_PASSWORD", raising=False)
    settings = smtp_settings(tmp_path, free_port(), smtp_username="paperrec")
    with pytest.raises(PaperrecError, match="PAPERREC_SMTP_PASSWORD"):
        mailer.send_digest(render(ranked("A")), settings)


# -- paperrec digest ----------------------------------------------------------------------
@pytest.fixture()
def home(trained_home, session_cache, tmp_path, monkeypatch):
    """A private copy of the trained home, with a token secret and two users."""
    path = tmp_path / "home"
    shutil.copytree(trained_home, path)
    with (
        sqlite3.connect(session_cache.path) as source,
        sqlite3.connect(path / "embeddings.sqlite") as target,
    ):
        source.backup(target)  # the fixture embedded into the session cache, not its own
    for name in ("PAPERREC_DATABASE_URL", "MLFLOW_TRACKING_URI", "PAPERREC_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPERREC_HOME", str(path))
    monkeypatch.setenv("PAPERREC_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("PAPERREC_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("PAPERREC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PAPERREC_SMTP_SECURITY", "plain")
    papers = Store(Settings()).papers
    newest = papers.latest_date()
    week = papers.iter_papers(since=newest - dt.timedelta(days=30), until=newest)
    seeds = ",".join([p.id for p in week if "language model" in p.text.lower()][:3])
    for user in ("ada", "bob"):
        result = cli("user", "add", user, "--email", f"{user}@example.org", "--seed", seeds)
        assert result.exit_code == 0, result.stderr
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def papers_in(message) -> set[str]:
    """Paper ids of the feedback links in a received email's text part."""
    text = message.get_body(("plain",)).get_content()
    return {verify_token(SECRET, token)[1] for token in LINK.findall(text)}


def shown(user: str) -> set[str]:
    return Store(Settings()).users.shown_ids(user)


def test_dry_run_writes_files_and_marks_nothing(home, tmp_path):
    out = tmp_path / "out"
    result = cli("digest", "--user", "ada", "--dry-run", "-k", "4", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    html, text = sorted(out.glob("*-ada.html")), sorted(out.glob("*-ada.txt"))
    assert len(html) == len(text) == 1 and not list(out.glob("*bob*"))
    tokens = LINK.findall(html[0].read_text())
    assert len(tokens) == 4 * 4
    papers = {verify_token(SECRET, t)[1] for t in tokens}
    assert {verify_token(SECRET, t)[0] for t in tokens} == {"ada"}
    assert papers == {verify_token(SECRET, t)[1] for t in LINK.findall(text[0].read_text())}
    assert "would send ada <ada@example.org>: 4 paper(s)" in result.stdout
    assert shown("ada") == set() and shown("bob") == set()


def test_send_marks_shown_only_for_delivered_users(home, smtp_server, monkeypatch):
    inbox, port = smtp_server(Inbox(refuse={"bob@example.org"}))
    monkeypatch.setenv("PAPERREC_SMTP_PORT", str(port))
    result = cli("digest", "-k", "3")
    assert result.exit_code == 1  # bob's address was refused
    (_, message), = inbox.messages  # fmt: skip
    assert message["To"] == "ada@example.org"
    sent = papers_in(message)
    assert len(sent) == 3 and shown("ada") == sent
    assert shown("bob") == set()
    assert "failed bob <bob@example.org>: SMTP 127.0.0.1" in result.stderr
    assert "550 5.1.1 no such mailbox" in result.stderr
    assert "Traceback" not in result.output
    # The next digest brings ada new papers and bob the ones he never got.
    inbox.refuse.clear()
    again = cli("digest", "-k", "3")
    assert again.exit_code == 0, again.stderr
    by_user = {m["To"]: m for _, m in inbox.messages[1:]}
    assert not papers_in(by_user["ada@example.org"]) & sent
    assert shown("bob") == papers_in(by_user["bob@example.org"])


def test_smtp_down_fails_every_user_and_marks_nothing(home, monkeypatch):
    monkeypatch.setenv("PAPERREC_SMTP_PORT", str(free_port()))
    result = cli("digest", "-k", "3")
    assert result.exit_code == 1
    assert result.stderr.count("connection refused") == 2
    assert "2 of 2 digest(s) could not be sent" in result.stderr
    assert "Traceback" not in result.output
    assert shown("ada") == set() and shown("bob") == set()


def test_no_new_papers_is_reported_and_exits_zero(home, monkeypatch):
    monkeypatch.setenv("PAPERREC_SMTP_PORT", str(free_port()))  # never reached
    result = cli("digest", "--date", "1990-01-01")
    assert result.exit_code == 0, result.stderr
    assert "skipped ada: no new papers for ada between 1989-12-26 and 1990-01-01" in result.stderr
    assert "skipped bob: no new papers for bob" in result.stderr
    assert "digest for 1990-01-01: 2 skipped" in result.stderr


def test_unknown_user_fails_before_anything_is_sent(home):
    result = cli("digest", "--user", "ada", "--user", "carol", "--dry-run")
    assert result.exit_code == 1
    assert "carol" in result.stderr and "would send" not in result.stdout
