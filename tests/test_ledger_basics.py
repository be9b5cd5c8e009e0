"""The ledger's rules, one behaviour at a time, on PostgreSQL."""

import pytest

from app.loyalty import checks, ledger
from app.loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPosting,
    PendingAlreadyResolved,
)
from app.models import Customer


def balance(db, customer_id):
    with db.session() as s:
        c = s.get(Customer, customer_id)
        return c.points_balance, c.pending_points, c.lifetime_points


def test_replay_returns_first_entry_and_other_amount_conflicts(pg_db, factory):
    shop = factory.shop()
    c = factory.customer(shop)
    first = factory.points(shop, c, 100, kind="earn_order", key="order:1:earn")
    again = factory.points(shop, c, 100, kind="earn_order", key="order:1:earn")
    assert again.id == first.id
    assert balance(pg_db, c.id) == (100, 0, 100)
    with pytest.raises(IdempotencyConflict):
        factory.points(shop, c, 90, kind="earn_order", key="order:1:earn")
    assert balance(pg_db, c.id) == (100, 0, 100)


def test_debit_never_overdraws_but_reversal_may(pg_db, factory):
    shop = factory.shop()
    c = factory.customer(shop)
    factory.points(shop, c, 50, kind="earn_order")
    with pytest.raises(InsufficientPoints):
        factory.points(shop, c, -51, kind="redeem")
    factory.points(shop, c, -50, kind="redeem")
    factory.points(shop, c, -20, kind="reversal")
    assert balance(pg_db, c.id) == (-20, 0, 30)
    with pg_db.session() as s:
        assert checks.first_violation(s) is None


def test_pending_is_posted_or_voided_exactly_once(pg_db, factory):
    shop = factory.shop()
    c = factory.customer(shop)
    p1 = factory.points(shop, c, 40, kind="earn_order", pending=True)
    p2 = factory.points(shop, c, 60, kind="earn_order", pending=True)
    assert balance(pg_db, c.id) == (0, 100, 0)
    with pg_db.transaction() as s:
        ledger.post_pending(s, shop_id=shop.id, entry_id=p1.id)
        ledger.post_pending(s, shop_id=shop.id, entry_id=p1.id)  # replay: no-op
        ledger.void_pending(s, shop_id=shop.id, entry_id=p2.id)
    assert balance(pg_db, c.id) == (40, 0, 40)
    with pg_db.transaction() as s, pytest.raises(PendingAlreadyResolved):
        ledger.void_pending(s, shop_id=shop.id, entry_id=p1.id)
    with pg_db.session() as s:
        assert checks.find_violations(s) == []


def test_other_shops_customer_cannot_be_posted_to(pg_db, factory):
    a, b = factory.shop(), factory.shop()
    cb = factory.customer(b)
    with pytest.raises(Exception) as exc:
        factory.points(a, cb, 10)
    assert getattr(exc.value, "status", None) == 404


def test_invalid_postings_are_refused(pg_db, factory):
    shop = factory.shop()
    c = factory.customer(shop)
    for points, kind, kw in [(0, "adjust", {}), (5, "bogus", {}), (10**13, "adjust", {}),
                             (-5, "redeem", {"pending": True})]:
        with pytest.raises(InvalidPosting):
            factory.points(shop, c, points, kind=kind, **kw)


def test_check_ledger_names_a_tampered_balance(pg_db, factory):
    shop = factory.shop()
    c = factory.customer(shop)
    factory.points(shop, c, 10)
    with pg_db.transaction() as s:
        s.get(Customer, c.id).points_balance = 11
    with pg_db.session() as s:
        v = checks.first_violation(s)
    assert v is not None and v.invariant == "balance_equals_posted_sum" and v.customer_id == c.id


def test_entries_cannot_be_edited(pg_db, factory):
    from sqlalchemy import text
    shop = factory.shop()
    c = factory.customer(shop)
    e = factory.points(shop, c, 10)
    with pytest.raises(Exception, match="append-only"):
        with pg_db.transaction() as s:
            s.execute(text("UPDATE ledger_entries SET points = 1000 WHERE id = :id"), {"id": e.id})
