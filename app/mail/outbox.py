"""Queueing lifecycle mail: the one entry point the job layer calls.

`queue_mail` inserts a `MailMessage` unique on (shop, customer, kind, event_key) with
ON CONFLICT DO NOTHING, so the same event queued twice — a retried job, two workers at
once — gives one row and one send. The send itself runs in `app.jobs.mail_jobs.send_mail`
after the caller's transaction commits (nothing is sent for a rolled-back event).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.jobs.queues import enqueue
from app.loyalty.program import load_program
from app.mail.locales import pick_locale
from app.mail.render import normalize_context
from app.models import Customer, Shop
from app.models.mail import MAIL_KINDS, MARKETING_KINDS, MailMessage

MAIL_QUEUE = "mail"
# Backoff between send attempts under RQ (seconds); after the last one the message is `failed`.
RETRY_INTERVALS = (30, 120, 600, 1800, 3600)


def kind_enabled(shop: Shop, kind: str) -> bool:
    """A kind is on unless the shop's programme switches it off (missing = on)."""
    return load_program(shop).lifecycle_mail.get(kind, True) is not False


def mail_refusal(shop: Shop, customer: Customer, kind: str) -> str | None:
    """Why this customer must not get this kind of mail now, or None. Checked when queueing
    and again when sending (the shopper may have unsubscribed in between)."""
    if customer.shop_id != shop.id:
        return "customer_of_other_shop"
    if not kind_enabled(shop, kind):
        return "kind_switched_off"
    if customer.redacted_at is not None:
        return "customer_redacted"
    if customer.unsubscribed_at is not None:
        return "unsubscribed"
    if kind in MARKETING_KINDS and not customer.accepts_marketing:
        return "no_marketing_consent"
    if not customer.email:
        return "no_email"
    if not shop.is_installed:
        return "shop_not_installed"
    return None


def queue_mail(
    session: Session, *, shop: Shop, customer: Customer, kind: str, event_key: str, context: dict[str, Any]
) -> MailMessage | None:
    """Queue one lifecycle mail for `event_key`; None when nothing will be sent (switched
    off, no email, unsubscribed, redacted, or already queued for this event).

    Raises ValueError (MissingMergeField) when `context` lacks a field the kind needs; see
    `app.mail.render.REQUIRED_FIELDS` and docs/mail.md."""
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    if not event_key or len(event_key) > 200:
        raise ValueError("event_key must be 1..200 characters")
    if customer.shop_id != shop.id:
        raise ValueError("customer belongs to another shop")
    context = normalize_context(kind, context)  # a missing merge field is the caller's bug
    if mail_refusal(shop, customer, kind) is not None:
        return None
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(MailMessage)
        .values(
            shop_id=shop.id,
            customer_id=customer.id,
            kind=kind,
            event_key=event_key,
            status="queued",
            attempts=0,
            locale=pick_locale(customer.locale),
            to_address=customer.email,
            context=_jsonable(context),
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "customer_id", "kind", "event_key"])
        .returning(MailMessage.id)
    )
    message_id = session.execute(stmt).scalar_one_or_none()
    if message_id is None:
        return None
    from app.jobs.mail_jobs import send_mail  # the job module imports rendering and SMTP

    enqueue(session, send_mail, message_id, queue=MAIL_QUEUE, options=retry_options())
    return session.execute(select(MailMessage).where(MailMessage.id == message_id)).scalar_one()


def retry_options() -> dict[str, Any]:
    from rq import Retry

    return {"retry": Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS))}


def _jsonable(value: Any) -> Any:
    """Merge fields are stored as JSON: dates as ISO strings, Decimals as strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
