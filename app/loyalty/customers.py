"""Customers from platform events: upsert the profile, the signup bonus once, and the
order statistics recomputed from the order snapshots.

A redacted customer (customers/redact) stays redacted: later events may still move
points for them, but never bring back an email, a name or a birthday.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.errors import CustomerNotFound
from app.loyalty.events import CustomerEvent, CustomerInfo
from app.loyalty.program import load_program
from app.models import Customer, OrderSnapshot, Shop, utcnow


def lock_customer(session: Session, shop_id: int, customer_id: int) -> Customer:
    """The shop's customer under a row lock, freshly read; `CustomerNotFound` otherwise."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.shop_id == shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return customer


def find_customer(session: Session, shop_id: int, platform_id: str) -> Customer | None:
    return session.scalar(
        select(Customer).where(Customer.shop_id == shop_id, Customer.platform_id == platform_id)
    )


def ensure_customer(session: Session, shop_id: int, platform_id: str) -> tuple[Customer, bool]:
    """The customer row, created if missing; (customer, created). A concurrent insert of the
    same platform id is tolerated by the unique (shop_id, platform_id) constraint."""
    existing = find_customer(session, shop_id, platform_id)
    if existing is not None:
        return existing, False
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    result = session.execute(
        insert(Customer)
        .values(
            shop_id=shop_id, platform_id=platform_id, accepts_marketing=False,
            points_balance=0, pending_points=0, lifetime_points=0, ledger_seq=0,
            orders_count=0, total_spent_minor=0, created_at=now, updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "platform_id"])
        .returning(Customer.id)
    ).first()
    customer = find_customer(session, shop_id, platform_id)
    assert customer is not None
    return customer, result is not None


def upsert_customer(
    session: Session, shop_id: int, info: CustomerInfo, *, authoritative: bool
) -> tuple[Customer, bool]:
    """Create or update a customer from `info`; (customer, created).

    `authoritative` (customer events): the platform's profile overwrites ours. Otherwise
    (the customer embedded in an order) it only fills what we do not know yet, so an
    order's billing name never overwrites the profile and never touches consent.
    """
    customer, created = ensure_customer(session, shop_id, info.platform_id)
    if customer.redacted_at is not None:
        return customer, created
    fields = {
        "email": info.email,
        "first_name": info.first_name,
        "last_name": info.last_name,
        "birthday": info.birthday,
        "locale": info.locale,
    }
    for name, value in fields.items():
        if authoritative or (getattr(customer, name) is None and value is not None):
            setattr(customer, name, value)
    if authoritative or created:
        customer.accepts_marketing = bool(info.accepts_marketing)
    return customer, created


def apply_customer_event(session: Session, shop: Shop, event: CustomerEvent, now: datetime | None = None) -> Customer:
    """customers/create|update, customer.created|updated. The signup bonus is posted once
    per customer (key `customer:{platform_id}:signup`) when the platform says the customer
    was created."""
    customer, _ = upsert_customer(session, shop.id, event.customer, authoritative=True)
    program = load_program(shop)
    if event.created and program.signup_points > 0:
        ledger.post(
            session,
            shop_id=shop.id,
            customer_id=customer.id,
            points=program.signup_points,
            kind="earn_signup",
            idempotency_key=f"customer:{customer.platform_id}:signup",
            reason="signup bonus",
            now=now,
        )
    return customer


def refresh_order_stats(session: Session, shop: Shop, customer_id: int) -> None:
    """orders_count, total_spent_minor, first/last order from the snapshots: an order
    counts when it is paid, not cancelled/deleted/test and in the shop's currency. Spent
    is the order total minus what was refunded."""
    snapshots = session.scalars(
        select(OrderSnapshot).where(
            OrderSnapshot.shop_id == shop.id,
            OrderSnapshot.customer_id == customer_id,
            OrderSnapshot.paid.is_(True),
            OrderSnapshot.cancelled.is_(False),
            OrderSnapshot.deleted.is_(False),
            OrderSnapshot.test.is_(False),
            OrderSnapshot.currency == shop.currency,
        )
    ).all()
    customer = session.get(Customer, customer_id)
    if customer is None or customer.shop_id != shop.id:
        return
    spent = 0
    for snap in snapshots:
        refunded = sum(
            int(r.get("lines_minor", 0)) + int(r.get("shipping_minor", 0)) + int(r.get("tax_minor", 0))
            for r in snap.refunds or []
        )
        spent += max(snap.total_minor - refunded, 0)
    placed = [s.placed_at for s in snapshots if s.placed_at is not None]
    customer.orders_count = len(snapshots)
    customer.total_spent_minor = spent
    customer.first_order_at = min(placed) if placed else None
    customer.last_order_at = max(placed) if placed else None

