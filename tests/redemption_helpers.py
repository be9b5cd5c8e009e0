"""Shared helpers for the redemption tests: rewards, reads of the saga's state."""

from __future__ import annotations

from sqlalchemy import func, select

from app.loyalty.checks import find_violations
from app.models import Customer, LedgerEntry, Redemption, Reward


def make_reward(db, shop, **kw) -> Reward:
    kw.setdefault("name", "5 off")
    kw.setdefault("kind", "fixed_amount")
    kw.setdefault("points_cost", 100)
    kw.setdefault("value", 500)
    with db.transaction() as s:
        reward = Reward(shop_id=shop.id, **kw)
        s.add(reward)
    return reward


def balance(db, customer) -> int:
    with db.session() as s:
        return s.scalar(select(Customer.points_balance).where(Customer.id == customer.id))


def entries(db, shop) -> list[LedgerEntry]:
    with db.session() as s:
        return list(s.scalars(select(LedgerEntry).where(LedgerEntry.shop_id == shop.id).order_by(LedgerEntry.id)))


def redemptions_of(db, shop) -> list[Redemption]:
    with db.session() as s:
        return list(s.scalars(select(Redemption).where(Redemption.shop_id == shop.id).order_by(Redemption.id)))


def redemption(db, redemption_id) -> Redemption:
    with db.session() as s:
        return s.get(Redemption, redemption_id)


def count(db, model, shop) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.shop_id == shop.id))


def violations(db, shop) -> list:
    with db.session() as s:
        return find_violations(s, shop.id)
