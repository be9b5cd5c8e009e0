"""Sending queued lifecycle mail.

`send_mail(message_id)` locks the message row, sends, and marks it `sent` in the same
transaction, so two workers (or a retry racing the sweeper) never both send: the second
waits for the lock and then sees `sent`. A refused or dropped connection leaves the row
`queued` with `last_error` and `attempts`; under RQ the job raises so RQ's `Retry` backs
off and tries again, and after the last attempt the row is `failed`. Without Redis (jobs
inline) nothing is raised into the caller's commit: `requeue_stalled_mail` (cron) retries.

Each message carries a fixed `Message-ID`, so even the one unavoidable duplicate (the
server accepted the mail but the connection died before it said so) is recognisable as
the same message by the receiving side.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from jinja2 import TemplateError
from sqlalchemy import select

from app.jobs.queues import enqueue, runner
from app.mail.outbox import MAIL_QUEUE, RETRY_INTERVALS, mail_refusal, retry_options
from app.mail.render import MissingMergeField, render_mail
from app.mail.smtp import MailNotConfigured, MailSendError, send_message
from app.mail.unsubscribe import list_unsubscribe_headers, make_token, unsubscribe_url
from app.models import Customer, Shop, utcnow
from app.models.mail import MailMessage
from app.runtime import get_db, get_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = len(RETRY_INTERVALS) + 1
# Mails per shop per minute handed to SMTP; above it a message waits for the next minute.
SHOP_RATE_PER_MINUTE = 120
# The sweeper leaves a queued message alone this long after its last change (seconds).
MIN_STALL_SECONDS = 600


class MailRetry(MailSendError):
    """Raised inside an RQ job after the failure is recorded, so RQ retries it."""


def send_mail(message_id: int, *, rate_limit: int | None = None) -> str:
    """Send one queued message; returns what happened (`sent`, `skipped`, `suppressed`,
    `deferred`, `retry`, `failed`)."""
    settings = get_settings()
    outcome = "skipped"
    error: str | None = None
    with get_db().transaction() as session:
        msg = session.execute(
            select(MailMessage).where(MailMessage.id == message_id).with_for_update()
        ).scalar_one_or_none()
        if msg is None or msg.status != "queued":
            return "skipped"
        shop = session.get(Shop, msg.shop_id)
        customer = session.get(Customer, msg.customer_id)
        refusal = "gone" if shop is None or customer is None else mail_refusal(shop, customer, msg.kind)
        if refusal is not None:
            msg.status = "suppressed"
            msg.last_error = refusal
            return "suppressed"
        assert shop is not None and customer is not None
        if not _within_rate(shop.id, rate_limit or SHOP_RATE_PER_MINUTE):
            _defer(message_id)
            return "deferred"
        try:
            email = build_email(settings, shop, customer, msg)
        except (MissingMergeField, ValueError, TemplateError) as exc:  # retrying cannot help
            msg.status = "failed"
            msg.last_error = f"render: {exc}"[:500]
            return "failed"
        msg.attempts += 1
        try:
            send_message(settings.smtp_url, email)
        except MailNotConfigured as exc:
            msg.status = "suppressed"
            msg.last_error = str(exc)
            return "suppressed"
        except MailSendError as exc:
            error = str(exc)
            msg.last_error = error
            outcome = "failed" if msg.attempts >= MAX_ATTEMPTS else "retry"
            if outcome == "failed":
                msg.status = "failed"
            log.warning("mail %s attempt %s failed: %s", msg.id, msg.attempts, error)
        else:
            msg.status = "sent"
            msg.sent_at = utcnow()
            msg.last_error = None
            outcome = "sent"
    if outcome == "retry" and _in_rq_job():
        raise MailRetry(error or "send failed")
    return outcome


def build_email(settings, shop: Shop, customer: Customer, msg: MailMessage) -> EmailMessage:
    """The MIME message for `msg`, rendered now in the language stored when queued."""
    token = make_token(settings.secret_key, shop.id, customer.id)
    link = unsubscribe_url(settings.app_url, token)
    context = {
        "shop_name": shop.name or shop.domain,
        "first_name": customer.first_name or "",
        "balance": customer.points_balance,
        "shop_url": shop_url(shop),
        **(msg.context or {}),
    }
    rendered = render_mail(msg.kind, msg.locale, context, unsubscribe_url=link)
    email = EmailMessage()
    email["From"] = formataddr((shop.name or shop.domain, settings.mail_from))
    email["To"] = customer.email or ""
    email["Subject"] = rendered.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = f"<loyalty-mail-{msg.id}.{shop.id}@{settings.mail_from.rpartition('@')[2] or 'localhost'}>"
    email["Auto-Submitted"] = "auto-generated"
    for name, value in list_unsubscribe_headers(settings.app_url, settings.mail_from, token).items():
        email[name] = value
    email.set_content(rendered.text)
    email.add_alternative(rendered.html, subtype="html")
    email["Content-Language"] = rendered.locale  # after the parts: Content-* moves into them
    msg.subject = rendered.subject[:500]
    msg.to_address = customer.email
    return email


def shop_url(shop: Shop) -> str:
    domain = (shop.domain or "").strip()
    if not domain:
        return ""
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def requeue_stalled_mail(now: datetime | None = None, batch: int = 1000) -> int:
    """Cron: queue `send_mail` again for messages still `queued` well after their last
    attempt (Redis was down at enqueue, a worker died, or jobs run inline). Set-based: one
    query per attempt count, each selecting only what is due."""
    now = now or utcnow()
    count = 0
    with get_db().transaction() as session:
        for attempts in range(MAX_ATTEMPTS):
            wait = _stall_seconds(attempts)
            ids = session.scalars(
                select(MailMessage.id)
                .where(
                    MailMessage.status == "queued",
                    MailMessage.attempts == attempts,
                    MailMessage.updated_at < now - timedelta(seconds=wait),
                )
                .order_by(MailMessage.id)
                .limit(batch - count)
            ).all()
            for message_id in ids:
                enqueue(session, send_mail, message_id, queue=MAIL_QUEUE, options=retry_options())
            count += len(ids)
            if count >= batch:
                break
    return count


def _stall_seconds(attempts: int) -> int:
    """How long a message with `attempts` tries stays untouched before the sweeper resends:
    twice RQ's own back-off, so the sweeper only catches what RQ lost."""
    if attempts == 0:
        return MIN_STALL_SECONDS
    return max(MIN_STALL_SECONDS, 2 * RETRY_INTERVALS[min(attempts, len(RETRY_INTERVALS)) - 1])


def _in_rq_job() -> bool:
    from rq import get_current_job

    return get_current_job() is not None


def _within_rate(shop_id: int, limit: int) -> bool:
    """A Redis counter per shop per minute; always true without Redis (inline jobs)."""
    jobs = runner()
    if jobs.inline:
        return True
    minute = int(time.time() // 60)
    key = f"loyalty:mail-rate:{shop_id}:{minute}"
    try:
        pipe = jobs.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        used, _ = pipe.execute()
    except Exception:  # Redis trouble must not stop mail; the limit is a courtesy
        log.warning("mail rate counter unavailable; sending without it")
        return True
    return int(used) <= limit


def _defer(message_id: int) -> None:
    """Try again at the start of the next minute (needs the worker's scheduler)."""
    seconds = 61 - int(time.time()) % 60
    runner().queue(MAIL_QUEUE).enqueue_in(timedelta(seconds=seconds), send_mail, message_id, **retry_options())
