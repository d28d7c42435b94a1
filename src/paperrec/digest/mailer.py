"""Sending email: the only module that speaks SMTP.

A `paperrec.digest.render.Digest` goes out as one multipart/alternative message (plain text first,
HTML second). The connection is encrypted as ``Settings.smtp_security`` says:

``starttls``
    connect, then upgrade with STARTTLS; a server that does not offer it is refused (the
    mail is not sent) rather than talked to in plain text.
``ssl``
    implicit TLS from the first byte (usually port 465).
``plain``
    no encryption, only when configured so; every connection logs a warning saying so.

Certificates are checked against the system's trust store and the host name. Every SMTP or
socket failure becomes a `paperrec.errors.NetworkError` with one line naming host:port and
the reason, never a traceback.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from paperrec.config import Settings
from paperrec.digest.render import Digest
from paperrec.errors import NetworkError, PaperrecError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "plain": 25}


def smtp_address(settings: Settings) -> tuple[str, int]:
    """(host, port) of the configured server; the port defaults by security mode."""
    return settings.smtp_host, settings.smtp_port or DEFAULT_PORTS[settings.smtp_security]


def new_message_id(sender: str) -> str:
    """A fresh ``<...@domain>`` Message-ID in the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return make_msgid("paperrec", domain=domain)


def build_message(digest: Digest, sender: str, message_id: str | None = None) -> EmailMessage:
    """``digest`` as a multipart/alternative message from ``sender`` to ``digest.email``.

    A digest sent again (a retry) keeps its ``message_id``, so mail clients that see it
    twice can tell it is the same message.
    """
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = digest.email
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id or new_message_id(sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message


def tls_context() -> ssl.SSLContext:
    """Verifying client context: system trust store, host name checked, TLS 1.2 or newer."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reason(exc: BaseException, timeout: float) -> str:
    """What went wrong, in one line."""
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, OSError):
        exc = exc.__context__  # smtplib wraps a read that failed or timed out
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{rcpt}: {_reply(*reply)}" for rcpt, reply in exc.recipients.items())
        text = f"recipient refused ({refused})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"server answered {_reply(exc.smtp_code, exc.smtp_error)}"
    elif isinstance(exc, TimeoutError | socket.timeout):
        text = f"no answer within {timeout:g} s"
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused (is the SMTP server running on this port?)"
    elif isinstance(exc, socket.gaierror):
        text = f"cannot resolve the host ({exc.strerror})"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = f"TLS certificate not trusted ({exc.verify_message})"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS failed ({exc.reason or exc})"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _reply(code: int, message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message}"


def _open(settings: Settings, host: str, port: int) -> smtplib.SMTP:
    """A connected, encrypted (unless configured plain) and logged-in client."""
    timeout = settings.smtp_timeout
    mode = settings.smtp_security
    if mode == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        client.ehlo()
        if mode == "starttls":
            if not client.has_extn("starttls"):
                raise NetworkError(
                    f"SMTP {host}:{port} does not offer STARTTLS; not sending in plain text. "
                    "Use a server with STARTTLS, PAPERREC_SMTP_SECURITY=ssl for implicit TLS, "
                    "or PAPERREC_SMTP_SECURITY=plain to send unencrypted on purpose"
                )
            client.starttls(context=tls_context())
            client.ehlo()
        elif mode == "plain":
            log.warning(
                "SMTP %s:%d: sending UNENCRYPTED (PAPERREC_SMTP_SECURITY=plain)%s",
                host,
                port,
                "; the password crosses the network in clear" if settings.smtp_username else "",
            )
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except BaseException:
        client.close()
        raise
    return client


def send_email(to: str, subject: str, text: str, settings: Settings) -> None:
    """Send a short plain-text message (a sign-in link) the way digests go out.

    Raises NetworkError (one line, host:port and why) when the server cannot take it.
    """
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = new_message_id(settings.smtp_from)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    _deliver(message, settings, None)


def send_digest(
    digest: Digest,
    settings: Settings,
    *,
    message_id: str | None = None,
    on_handover: Callable[[], None] | None = None,
) -> None:
    """Send ``digest`` through the configured SMTP server.

    ``on_handover`` is called once the server has accepted the sender and the recipient,
    just before the message itself is transmitted: the last moment at which a failure
    certainly means "not delivered" (the outbox records it).

    Raises
    ------
    NetworkError
        The server cannot be reached, times out, does not offer STARTTLS when required,
        rejects the login, the sender or the recipient; one line with host:port and why.
    PaperrecError
        ``smtp_username`` is set but ``PAPERREC_SMTP_PASSWORD`` is not.
    """
    _deliver(build_message(digest, settings.smtp_from, message_id), settings, on_handover)


def _deliver(
    message: EmailMessage, settings: Settings, on_handover: Callable[[], None] | None
) -> None:
    if settings.smtp_username and settings.smtp_password is None:
        raise PaperrecError(
            f"smtp_username is {settings.smtp_username!r} but no password is set: "
            "put it in PAPERREC_SMTP_PASSWORD"
        )
    host, port = smtp_address(settings)
    try:
        client = _open(settings, host, port)
        try:
            _transmit(client, message, on_handover)
        finally:
            _quit(client)
    except NetworkError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        reason = _reason(exc, settings.smtp_timeout)
        raise NetworkError(f"SMTP {host}:{port}: {reason}") from None


def _transmit(
    client: smtplib.SMTP, message: EmailMessage, on_handover: Callable[[], None] | None
) -> None:
    """MAIL, RCPT, then ``on_handover()``, then DATA: `smtplib.SMTP.send_message` in steps."""
    sender, recipient = parseaddr(message["From"])[1], parseaddr(message["To"])[1]
    options: list[str] = []
    policy = message.policy.clone(linesep="\r\n")
    if not (sender + recipient).isascii():
        if not client.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                f"the server does not offer SMTPUTF8, needed for {sender} -> {recipient}"
            )
        options = ["SMTPUTF8", "BODY=8BITMIME"]
        policy = policy.clone(utf8=True)
    data = message.as_bytes(policy=policy)
    code, reply = client.mail(sender, options)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.rcpt(recipient)
    if code not in (250, 251):
        _reset(client)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    if on_handover is not None:
        on_handover()
    code, reply = client.data(data)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPDataError(code, reply)


def _reset(client: smtplib.SMTP) -> None:
    try:
        client.rset()
    except (OSError, smtplib.SMTPException):
        pass  # the connection is going away anyway


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye politely; the mail is already accepted, so a failure here is not one."""
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
