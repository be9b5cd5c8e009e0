"""Webhook deliveries for admins: see what failed and replay it.

A delivery that exhausted its retries ends `failed` with its error kept; an admin reads the
list (never the raw body, which holds shoppers' personal data) and replays one, which puts
it back to `received` and queues processing again. Processing converges, so a replay of
an already applied delivery changes nothing. Every replay is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import g
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.errors import NotFound
from app.models import StaffUser, WebhookDelivery
from app.openapi import api_route
from app.shops import get_by_id_and_shop
from app.web import db_session
from webhooks import inbox

TAGS = ["deliveries"]


class DeliveryQuery(PageQuery):
    status: Literal["received", "processed", "failed", "ignored"] | None = None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    topic: str
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime
    enqueued_at: datetime | None
    processed_at: datetime | None


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None


@api_route(
    bp, "/deliveries", methods=["GET"], query=DeliveryQuery, response=DeliveryPage, tags=TAGS,
    security="staffToken", summary="Webhook deliveries of this shop, newest first",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        422: "invalid query parameters or cursor",
    },
)
@require_staff("admin")
def list_deliveries(query: DeliveryQuery) -> DeliveryPage:
    stmt = select(WebhookDelivery).where(WebhookDelivery.shop_id == g.shop_id)
    if query.status is not None:
        stmt = stmt.where(WebhookDelivery.status == query.status)
    rows, next_cursor = keyset_page(
        db_session(), stmt, WebhookDelivery.id, cursor=query.cursor, limit=query.limit
    )
    return DeliveryPage(data=[DeliveryOut.model_validate(d) for d in rows], next_cursor=next_cursor)


@api_route(
    bp, "/deliveries/<int:delivery_id>/replay", methods=["POST"], response=DeliveryOut,
    tags=TAGS, security="staffToken", summary="Process a webhook delivery again",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        404: "no such delivery in this shop",
    },
)
@require_staff("admin")
def replay_delivery(delivery_id: int) -> DeliveryOut:
    if not 0 < delivery_id <= MAX_ID:
        raise NotFound(f"webhookdelivery {delivery_id} not found")
    session = db_session()
    delivery = get_by_id_and_shop(session, WebhookDelivery, delivery_id, g.shop_id)
    replay(session, g.staff, delivery)
    return DeliveryOut.model_validate(delivery)


def replay(session: Session, staff: StaffUser, delivery: WebhookDelivery) -> None:
    """Put a delivery back to `received`, audited, commit, and queue its processing."""
    before = {"status": delivery.status, "attempts": delivery.attempts,
              "last_error": delivery.last_error}
    # A fresh start: the worker counts attempts toward its retry limit.
    delivery.status = "received"
    delivery.attempts = 0
    delivery.last_error = None
    delivery.processed_at = None
    audit.record(
        session, shop_id=delivery.shop_id, staff=staff, action="delivery.replay",
        target_type="webhook_delivery", target_id=delivery.id, before=before,
        after={"status": "received", "attempts": 0},
    )
    session.commit()
    inbox.queue_processing(session, [delivery.id])
    session.refresh(delivery)
