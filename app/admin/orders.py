"""Admin API: one order's points, explained ("why no points?").

Shows the snapshot we hold, the formula's inputs, the target, what the ledger has booked
for the order, and the reason when it earns nothing. Another shop's order is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g
from pydantic import BaseModel
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.errors import NotFound
from app.loyalty.ledger import sum_for_order
from app.models import Customer, LedgerEntry, OrderSnapshot
from app.openapi import api_route
from app.web import db_session


class LedgerLine(BaseModel):
    id: int
    points: int
    kind: str
    status: str
    reason: str | None
    available_at: datetime | None
    created_at: datetime


class OrderPointsOut(BaseModel):
    platform_order_id: str
    name: str | None
    customer_id: int | None
    customer_platform_id: str | None
    status: str
    financial_status: str | None
    paid: bool
    cancelled: bool
    test: bool
    deleted: bool
    currency: str
    total_minor: int
    eligible_minor: int
    refunded_eligible_minor: int
    platform_updated_at: datetime | None
    placed_at: datetime | None
    earn_rate: str | None
    target_points: int
    posted_points: int
    pending_points: int
    no_points_reason: str | None
    computation: dict[str, Any] | None
    refunds: list[dict[str, Any]]
    discount_codes: list[str]
    entries: list[LedgerLine]


@api_route(
    bp, "/orders/<string:platform_order_id>", methods=["GET"], response=OrderPointsOut,
    tags=["orders"], security="staffToken", responses={404: "No such order in this shop"},
)
@require_staff("viewer")
def get_order_points(platform_order_id: str) -> OrderPointsOut:
    """An order's points: snapshot, computation, booked points and the no-points reason."""
    if len(platform_order_id) > 64 or not platform_order_id.isprintable():
        raise NotFound(f"order {platform_order_id!r} not found")
    session = db_session()
    snap = session.scalar(
        select(OrderSnapshot).where(
            OrderSnapshot.shop_id == g.shop_id, OrderSnapshot.platform_order_id == platform_order_id
        )
    )
    if snap is None:
        raise NotFound(f"order {platform_order_id} not found")
    posted, pending = sum_for_order(session, g.shop_id, snap.id)
    customer_platform_id = None
    if snap.customer_id is not None:
        customer_platform_id = session.scalar(
            select(Customer.platform_id).where(Customer.id == snap.customer_id, Customer.shop_id == g.shop_id)
        )
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.shop_id == g.shop_id, LedgerEntry.order_id == snap.id)
        .order_by(LedgerEntry.id)
    ).all()
    return OrderPointsOut(
        platform_order_id=snap.platform_order_id,
        name=snap.name,
        customer_id=snap.customer_id,
        customer_platform_id=customer_platform_id,
        status=snap.status,
        financial_status=snap.financial_status,
        paid=snap.paid,
        cancelled=snap.cancelled,
        test=snap.test,
        deleted=snap.deleted,
        currency=snap.currency,
        total_minor=snap.total_minor,
        eligible_minor=snap.eligible_minor,
        refunded_eligible_minor=snap.refunded_eligible_minor,
        platform_updated_at=snap.platform_updated_at,
        placed_at=snap.placed_at,
        earn_rate=str(snap.earn_rate) if snap.earn_rate is not None else None,
        target_points=snap.target_points,
        posted_points=posted,
        pending_points=pending,
        no_points_reason=snap.no_points_reason,
        computation=snap.computation,
        refunds=list(snap.refunds or []),
        discount_codes=list(snap.discount_codes or []),
        entries=[
            LedgerLine(id=e.id, points=e.points, kind=e.kind, status=e.status, reason=e.reason,
                       available_at=e.available_at, created_at=e.created_at)
            for e in entries
        ],
    )
