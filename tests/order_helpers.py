"""Helpers for the order-processing tests: fixture loading and small ledger queries."""

from __future__ import annotations

import copy
import json

from fixture_files import FIXTURES
from sqlalchemy import func, select

from app.loyalty import checks, orders
from app.models import Customer, LedgerEntry, OrderSnapshot


def shopify(name: str) -> dict:
    return json.loads((FIXTURES / "shopify" / f"{name}.json").read_text())


def woo(name: str) -> dict:
    return copy.deepcopy(json.loads((FIXTURES / "woocommerce" / f"{name}.json").read_text())["body"])


def converge(db, shop, event, now=None):
    with db.transaction() as s:
        return orders.converge_order(s, s.merge(shop), event, now=now)


def customer_by_platform_id(db, shop, platform_id: str) -> Customer | None:
    with db.session() as s:
        return s.scalar(select(Customer).where(Customer.shop_id == shop.id, Customer.platform_id == platform_id))


def order_points(db, shop, platform_order_id: str) -> tuple[int, int]:
    """(posted, pending) points booked against one order."""
    with db.session() as s:
        snap = s.scalar(
            select(OrderSnapshot).where(
                OrderSnapshot.shop_id == shop.id, OrderSnapshot.platform_order_id == platform_order_id
            )
        )
        if snap is None:
            return 0, 0
        rows = dict(
            s.execute(
                select(LedgerEntry.status, func.coalesce(func.sum(LedgerEntry.points), 0))
                .where(LedgerEntry.shop_id == shop.id, LedgerEntry.order_id == snap.id)
                .group_by(LedgerEntry.status)
            ).all()
        )
        return int(rows.get("posted", 0)), int(rows.get("pending", 0))


def snapshot(db, shop, platform_order_id: str) -> OrderSnapshot | None:
    with db.session() as s:
        return s.scalar(
            select(OrderSnapshot).where(
                OrderSnapshot.shop_id == shop.id, OrderSnapshot.platform_order_id == platform_order_id
            )
        )


def violations(db, shop) -> list:
    with db.session() as s:
        return checks.find_violations(s, shop.id)


def entry_count(db, shop) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.shop_id == shop.id)))


def use_runtime(pg_db, settings):
    """For a `runtime_db` fixture: job functions (`get_db()`) use the test's database."""
    from app import runtime

    runtime.init_runtime(settings, db=pg_db)
    yield pg_db
    runtime._db = None
    runtime._settings = None
