"""Shared pieces of the digest tests (not a test module): a real aiosmtpd server on
127.0.0.1, a self-signed certificate, and a private copy of the trained home with users."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import re
import shutil
import socket
import sqlite3
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from typer.testing import CliRunner

SECRET = "a-test-secret-of-enough-bytes-0123456789"
PUBLIC_URL = "https://papers.example.org/"
LINK = re.compile(r"https://papers\.example\.org/feedback/([A-Za-z0-9_.%-]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping what arrives.

    ``refuse``: recipients answered 550 (permanent). ``fail_first``: how many DATA
    commands to answer 451 (try again later) before accepting. ``drop_first``: how many
    sessions to cut off (connection closed, no reply) at RCPT. ``hold_rcpt`` /
    ``hold_data``: events the handler waits on at RCPT / after receiving DATA (a message
    held at DATA is kept, as a server that received it would), with ``reached_*`` set when
    a client gets there.
    """

    def __init__(self, refuse=(), fail_first=0, drop_first=0):
        self.messages: list[tuple[object, email.message.EmailMessage]] = []
        self.refuse = set(refuse)
        self.fail_first = fail_first
        self.drop_first = drop_first
        self.sessions = 0
        self.hold_rcpt: threading.Event | None = None
        self.hold_data: threading.Event | None = None
        self.reached_rcpt = threading.Event()
        self.reached_data = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.sessions += 1
        self.reached_rcpt.set()
        if self.hold_rcpt is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold_rcpt.wait, 30)
        if self.drop_first > 0:
            self.drop_first -= 1
            server.transport.close()  # the connection drops without an answer
            return "421 closing"
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((session, parsed))
        self.reached_data.set()
        if self.hold_data is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold_data.wait, 30)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for _, m in self.messages if m["To"] == address]


class SmtpServers:
    """Starts aiosmtpd controllers on free ports; ``stop()`` ends them all."""

    def __init__(self):
        self.started: list[Controller] = []

    def start(self, inbox: Inbox | None = None, **kwargs) -> tuple[Inbox, int]:
        inbox = inbox or Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        self.started.append(controller)
        return inbox, controller.port

    def stop(self) -> None:
        for controller in self.started:
            controller.stop()


def make_certificate(folder: Path) -> tuple[Path, Path]:
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


def copy_trained_home(trained_home: Path, session_cache, target: Path) -> Path:
    """A private copy of the trained home whose embedding cache holds the session's vectors."""
    shutil.copytree(trained_home, target)
    with (
        sqlite3.connect(session_cache.path) as source,
        sqlite3.connect(target / "embeddings.sqlite") as copy,
    ):
        source.backup(copy)  # the fixture embedded into the session cache, not its own
    return target


def digest_environment(monkeypatch, home: Path) -> None:
    """Point paperrec at ``home`` with a token secret, plain SMTP on 127.0.0.1 and fast
    retries; one process composes."""
    for name in ("PAPERREC_DATABASE_URL", "MLFLOW_TRACKING_URI", "PAPERREC_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPERREC_HOME", str(home))
    monkeypatch.setenv("PAPERREC_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("PAPERREC_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("PAPERREC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PAPERREC_SMTP_SECURITY", "plain")
    monkeypatch.setenv("PAPERREC_SMTP_TIMEOUT", "5")
    monkeypatch.setenv("PAPERREC_DIGEST_RETRY_DELAY", "0.05")
    monkeypatch.setenv("PAPERREC_DIGEST_WORKERS", "1")


def cli(*args: str):
    return CliRunner().invoke(app(), list(args))


def app():
    from paperrec.cli import app as paperrec_app

    return paperrec_app


def home_with_users(
    trained_home, session_cache, target: Path, monkeypatch, database_url: str | None = None
) -> str:
    """A private copy of the trained home with users ada and bob (three seed papers each
    about language models) as PAPERREC_HOME; returns the newest paper date, ISO. With
    ``database_url`` (an empty database) the home's store is copied there and used."""
    from paperrec.config import Settings
    from paperrec.store import Store
    from paperrec.store.transfer import copy_store

    home = copy_trained_home(trained_home, session_cache, target)
    digest_environment(monkeypatch, home)
    if database_url:
        copy_store(Settings().resolved_database_url, database_url)
        monkeypatch.setenv("PAPERREC_DATABASE_URL", database_url)
    papers = Store(Settings()).papers
    newest = papers.latest_date()
    month = papers.iter_papers(since=newest - dt.timedelta(days=30), until=newest)
    seeds = ",".join([p.id for p in month if "language model" in p.text.lower()][:3])
    for user in ("ada", "bob"):
        result = cli("user", "add", user, "--email", f"{user}@example.org", "--seed", seeds)
        assert result.exit_code == 0, result.stderr
    return newest.isoformat()
