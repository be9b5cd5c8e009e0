"""Privacy and lifecycle events: data requests, customer redaction, shop redaction,
uninstall.

- A customer's export is everything we hold about them: profile, orders, ledger.
- Redacting a customer erases personal data (email, names, birthday, locale; audit
  records about them lose their before/after) but keeps the row and every amount, so the
  ledger still balances and `check-ledger` stays clean.
- Redacting a shop (Shopify sends it 48 hours after uninstall) deletes every row of that
  shop in every table, including other webhook deliveries and staff. The shop row itself
  is kept, emptied (credentials, widget secret, programme, origins cleared) and marked
  `install_state='redacted'`: the delivery being processed belongs to it, and a later
  reinstall finds a clean shop instead of a dangling id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.loyalty.events import CustomerDataRequest, CustomerRedact
from app.models import (
    AuditEvent,
    Base,
    Customer,
    LedgerEntry,
    OrderSnapshot,
    Shop,
    WebhookDelivery,
    utcnow,
)


def export_customer(session: Session, shop_id: int, customer_id: int) -> dict[str, Any]:
    customer = session.scalar(select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id))
    if customer is None:
        return {}
    orders = session.scalars(
        select(OrderSnapshot)
        .where(OrderSnapshot.shop_id == shop_id, OrderSnapshot.customer_id == customer_id)
        .order_by(OrderSnapshot.id)
    ).all()
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.shop_id == shop_id, LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    ).all()
    return {
        "profile": {
            "platform_id": customer.platform_id,
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "accepts_marketing": customer.accepts_marketing,
            "locale": customer.locale,
            "points_balance": customer.points_balance,
            "pending_points": customer.pending_points,
            "lifetime_points": customer.lifetime_points,
            "tier": customer.tier,
            "orders_count": customer.orders_count,
            "total_spent_minor": customer.total_spent_minor,
            "first_order_at": _iso(customer.first_order_at),
            "last_order_at": _iso(customer.last_order_at),
            "created_at": _iso(customer.created_at),
            "redacted_at": _iso(customer.redacted_at),
        },
        "orders": [
            {
                "platform_order_id": o.platform_order_id,
                "name": o.name,
                "placed_at": _iso(o.placed_at),
                "status": o.status,
                "currency": o.currency,
                "total_minor": o.total_minor,
                "eligible_minor": o.eligible_minor,
                "refunded_eligible_minor": o.refunded_eligible_minor,
                "target_points": o.target_points,
                "no_points_reason": o.no_points_reason,
            }
            for o in orders
        ],
        "ledger": [
            {
                "id": e.id,
                "points": e.points,
                "kind": e.kind,
                "status": e.status,
                "reason": e.reason,
                "created_at": _iso(e.created_at),
                "available_at": _iso(e.available_at),
            }
            for e in entries
        ],
    }


def find_customers(session: Session, shop_id: int, platform_customer_id: str | None, email: str | None) -> list[Customer]:
    conditions = []
    if platform_customer_id:
        conditions.append(Customer.platform_id == platform_customer_id)
    if email:
        conditions.append(Customer.email == email)
    if not conditions:
        return []
    return list(session.scalars(select(Customer).where(Customer.shop_id == shop_id, or_(*conditions))).all())


def record_data_request(session: Session, shop: Shop, event: CustomerDataRequest) -> AuditEvent:
    """customers/data_request: the export, kept for the staff to send to the shopper."""
    exports = [
        export_customer(session, shop.id, c.id)
        for c in find_customers(session, shop.id, event.platform_customer_id, event.email)
    ]
    audit = AuditEvent(
        shop_id=shop.id,
        actor="platform",
        action="customer.data_request",
        target_type="customer",
        target_id=event.platform_customer_id,
        after={"request_id": event.request_id, "customers": exports},
        reason="data request from the platform",
    )
    session.add(audit)
    session.flush()
    return audit


def redact_customer(session: Session, shop: Shop, event: CustomerRedact, now: datetime | None = None) -> int:
    """Erase personal data of the matching customers; returns how many were redacted."""
    now = now or utcnow()
    customers = find_customers(session, shop.id, event.platform_customer_id, event.email)
    for customer in customers:
        customer.email = None
        customer.first_name = None
        customer.last_name = None
        customer.birthday = None
        customer.locale = None
        customer.accepts_marketing = False
        if customer.redacted_at is None:
            customer.redacted_at = now
        session.execute(
            update(AuditEvent)
            .where(
                AuditEvent.shop_id == shop.id,
                AuditEvent.target_type == "customer",
                AuditEvent.target_id.in_([str(customer.id), customer.platform_id]),
            )
            .values(before=None, after=None),
            execution_options={"synchronize_session": False},
        )
    session.flush()
    return len(customers)


def redact_shop(session: Session, shop: Shop, keep_delivery_id: int | None = None) -> None:
    """Delete every row of the shop (all tables with a shop_id), keep the emptied shop row."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name == Shop.__tablename__ or "shop_id" not in table.c:
            continue
        stmt = delete(table).where(table.c.shop_id == shop.id)
        if table.name == WebhookDelivery.__tablename__ and keep_delivery_id is not None:
            stmt = stmt.where(table.c.id != keep_delivery_id)
        session.execute(stmt)
    shop.credentials = None
    shop.widget_secret = None
    shop.program = {}
    shop.storefront_origins = []
    shop.install_state = "redacted"
    session.flush()
    session.expire_all()


def mark_uninstalled(session: Session, shop: Shop, now: datetime | None = None) -> None:
    shop.install_state = "uninstalled"
    shop.uninstalled_at = now or utcnow()
    session.flush()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
