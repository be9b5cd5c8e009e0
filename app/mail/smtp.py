"""Handing a message to the SMTP server named by `SMTP_URL`.

`smtp://user:pass@host:587` speaks plain SMTP and upgrades with STARTTLS whenever the
server offers it (`?starttls=required` refuses a server that does not; `?starttls=off`
never tries); `smtps://user:pass@host:465` is TLS from the first byte. Without `SMTP_URL`
nothing is sent: the message is logged (recipient domain and subject only — the body holds
the shopper's unsubscribe token, and the URL its password, neither is ever logged).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20


class MailNotConfigured(RuntimeError):
    """No SMTP_URL: the message was logged, not sent."""


class MailSendError(RuntimeError):
    """The server refused the message or the connection failed; safe to retry."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    starttls: str  # "auto" | "required" | "off"
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never show the password
        return f"SmtpTarget(host={self.host!r}, port={self.port}, tls={self.tls}, user={self.username!r})"


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
    tls = parts.scheme == "smtps"
    starttls = parse_qs(parts.query).get("starttls", ["auto"])[0]
    if starttls not in ("auto", "required", "off"):
        raise ValueError("SMTP_URL starttls must be auto, required or off")
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if tls else 25),
        tls=tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def send_message(smtp_url: str | None, message: EmailMessage) -> None:
    """Deliver `message` to the SMTP server; raises MailSendError (retry) or
    MailNotConfigured (nothing to retry)."""
    if not smtp_url:
        recipient = str(message.get("To", ""))
        log.info(
            "mail not sent (no SMTP_URL): to domain %s, subject %r",
            recipient.rpartition("@")[2] or "?", str(message.get("Subject", "")),
        )
        raise MailNotConfigured("no SMTP_URL configured; message logged only")
    target = parse_smtp_url(smtp_url)
    try:
        if target.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if not target.tls and target.starttls != "off":
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                elif target.starttls == "required":
                    raise MailSendError("SMTP server does not offer STARTTLS and SMTP_URL requires it")
            if target.username:
                client.login(target.username, target.password or "")
            refused = client.send_message(message)
            if refused:
                raise MailSendError(f"recipient refused: {sorted(refused.values())[:1]}")
    except MailSendError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise MailSendError(_describe(exc)) from None


def _describe(exc: BaseException) -> str:
    """A short error for the message row; smtplib errors carry the server's reply, never
    our credentials."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
