"""Processing of stored webhook deliveries (the worker side of the inbox).

`process_delivery` locks the delivery row, turns the body into a platform-neutral event
with the platform's adapter, applies it through the domain, and marks the row in the same
transaction. Errors roll everything back; the failure is then recorded in a transaction
of its own and re-raised so RQ retries with backoff. A payload that can never be applied
(`InvalidPayload`) and the last attempt end as `failed` instead, with the error kept.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rq import Retry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.jobs.after_order import after_order_converged
from app.loyalty import compliance, customers, orders
from app.loyalty.events import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerEvent,
    CustomerRedact,
    InvalidPayload,
    OrderDeleted,
    OrderEvent,
    RefundEvent,
    ShopRedact,
)
from app.models import Shop, WebhookDelivery, utcnow
from app.runtime import get_db

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
_ERROR_LIMIT = 500


def retry_policy() -> Retry:
    """RQ retries with backoff; the last attempt leaves the delivery `failed`."""
    return Retry(max=MAX_ATTEMPTS - 1, interval=[5, 30, 120, 600])


def adapter_for(platform: str):
    """The platform's `to_event(topic, payload)`."""
    if platform == "shopify":
        from integrations.shopify.adapter import to_event
    elif platform == "woocommerce":
        from integrations.woocommerce.adapter import to_event
    else:
        raise InvalidPayload(f"unknown platform {platform!r}")
    return to_event


def process_delivery(delivery_id: int) -> str:
    """Load the delivery, turn it into a platform-neutral event, apply it, mark it.
    Returns the delivery's resulting status."""
    try:
        with get_db().transaction() as session:
            delivery = session.scalar(
                select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
            )
            if delivery is None:
                return "missing"
            if delivery.status in ("processed", "ignored"):
                return delivery.status
            shop = session.scalar(select(Shop).where(Shop.id == delivery.shop_id))
            if shop is None:
                return "missing"
            event = adapter_for(delivery.platform)(delivery.topic, _payload(delivery.body))
            status = "ignored" if event is None else "processed"
            if event is not None:
                apply_event(session, shop, event, delivery_id=delivery.id)
            # The row may have been expired by a shop redaction: update it by id.
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status=status, attempts=WebhookDelivery.attempts + 1,
                        processed_at=utcnow(), last_error=None),
                execution_options={"synchronize_session": False},
            )
            return status
    except InvalidPayload as exc:
        _record_failure(delivery_id, f"invalid payload: {exc}", final=True)
        return "failed"
    except Exception as exc:
        attempts = _record_failure(delivery_id, _describe(exc), final=False)
        if attempts >= MAX_ATTEMPTS:
            _record_failure(delivery_id, None, final=True, count=False)
            log.warning("delivery %s failed after %s attempts", delivery_id, attempts)
            return "failed"
        raise


def apply_event(session: Session, shop: Shop, event: Any, *, delivery_id: int | None = None) -> None:
    """Route one platform-neutral event to the domain."""
    if isinstance(event, OrderEvent):
        after_order_converged(session, shop, orders.converge_order(session, shop, event))
    elif isinstance(event, RefundEvent):
        after_order_converged(session, shop, orders.apply_refund(session, shop, event))
    elif isinstance(event, OrderDeleted):
        after_order_converged(session, shop, orders.apply_order_deleted(session, shop, event))
    elif isinstance(event, CustomerEvent):
        customers.apply_customer_event(session, shop, event)
    elif isinstance(event, CustomerRedact):
        compliance.redact_customer(session, shop, event)
    elif isinstance(event, CustomerDataRequest):
        compliance.record_data_request(session, shop, event)
    elif isinstance(event, ShopRedact):
        compliance.redact_shop(session, shop, keep_delivery_id=delivery_id)
    elif isinstance(event, AppUninstalled):
        compliance.mark_uninstalled(session, shop)
    else:  # pragma: no cover - adapters only return the events above
        raise InvalidPayload(f"no handler for {type(event).__name__}")


def _payload(body: bytes | None) -> Any:
    try:
        return json.loads(bytes(body or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("the body is not JSON") from None


def _describe(exc: Exception) -> str:
    """The error class and message, never the body or headers."""
    return f"{exc.__class__.__name__}: {exc}"[:_ERROR_LIMIT]


def _record_failure(delivery_id: int, error: str | None, *, final: bool, count: bool = True) -> int:
    """In its own transaction (the work was rolled back): count the attempt, keep the
    error, and mark `failed` when no retry follows. Returns the attempts so far."""
    values: dict[str, Any] = {}
    if count:
        values["attempts"] = WebhookDelivery.attempts + 1
    if error is not None:
        values["last_error"] = error[:_ERROR_LIMIT]
    if final:
        values["status"] = "failed"
    with get_db().transaction() as session:
        row = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.not_in(("processed", "ignored")))
            .values(**values)
            .returning(WebhookDelivery.attempts),
            execution_options={"synchronize_session": False},
        ).first()
    return int(row.attempts) if row else 0
