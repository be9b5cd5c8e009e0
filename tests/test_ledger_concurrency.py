"""The ledger under real contention on PostgreSQL: many transactions released at once.

Each thread opens its own session and transaction, waits at a barrier, then makes one
ledger call and commits, so the database (not Python) has to serialise them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.loyalty import checks, ledger
from app.loyalty.errors import InsufficientPoints, PendingAlreadyResolved
from app.models import Customer, LedgerEntry


def race(db, calls: list[Callable]) -> list:
    """Run every call in its own transaction, all released together; results or exceptions."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        with db.transaction() as s:
            s.connection()  # check out the connection before the start line, not after it
            barrier.wait(timeout=30)
            try:
                result = call(s)
            except Exception as exc:  # returned, so the test can count outcomes
                return exc
            return (result.id, result.status)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def cached(db, customer_id):
    with db.session() as s:
        c = s.get(Customer, customer_id)
        return c.points_balance, c.pending_points, c.lifetime_points


def no_violations(db):
    with db.session() as s:
        return checks.find_violations(s)


def test_concurrent_debits_never_overdraw(pg_db, factory):
    shop = factory.shop()
    customer = factory.customer(shop)
    cost, affordable, attempts = 30, 7, 50
    factory.points(shop, customer, cost * affordable, kind="earn_order")

    def redeem(n):
        return lambda s: ledger.post(s, shop_id=shop.id, customer_id=customer.id, points=-cost,
                                     kind="redeem", idempotency_key=f"redeem:{n}")

    outcomes = race(pg_db, [redeem(n) for n in range(attempts)])

    succeeded = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, InsufficientPoints)]
    assert len(succeeded) == affordable
    assert len(refused) == attempts - affordable
    assert cached(pg_db, customer.id) == (0, 0, cost * affordable)
    with pg_db.session() as s:
        trail = s.execute(
            select(LedgerEntry.seq, LedgerEntry.points, LedgerEntry.balance_after)
            .where(LedgerEntry.customer_id == customer.id).order_by(LedgerEntry.seq)
        ).all()
    # One credit then seven debits, the balance after each never below zero.
    assert [row.seq for row in trail] == list(range(1, affordable + 2))
    assert [row.balance_after for row in trail] == [cost * k for k in range(affordable, -1, -1)]
    assert min(row.balance_after for row in trail) == 0
    assert no_violations(pg_db) == []


def test_same_key_posted_concurrently_credits_once(pg_db, factory):
    shop = factory.shop()
    customer = factory.customer(shop)

    def earn(s):
        return ledger.post(s, shop_id=shop.id, customer_id=customer.id, points=120,
                           kind="earn_order", idempotency_key="order:42:earn")

    outcomes = race(pg_db, [earn] * 20)

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert len({entry_id for entry_id, _ in outcomes}) == 1
    with pg_db.session() as s:
        count = s.scalar(select(func.count()).select_from(LedgerEntry)
                         .where(LedgerEntry.shop_id == shop.id))
    assert count == 1
    assert cached(pg_db, customer.id) == (120, 0, 120)
    assert no_violations(pg_db) == []


def test_post_and_void_of_one_pending_entry_race_to_one_outcome(pg_db, factory):
    shop = factory.shop()
    customer = factory.customer(shop)
    pending = [factory.points(shop, customer, 10 * (n + 1), kind="earn_order", pending=True)
               for n in range(8)]

    def resolve(entry_id, outcome):
        call = ledger.post_pending if outcome == "posted" else ledger.void_pending
        return lambda s: call(s, shop_id=shop.id, entry_id=entry_id)

    posted_total = 0
    for entry in pending:
        # One poster and one voider: exactly one wins, the other is told it lost.
        outcomes = race(pg_db, [resolve(entry.id, "posted"), resolve(entry.id, "voided")])
        won = [o for o in outcomes if isinstance(o, tuple)]
        lost = [o for o in outcomes if isinstance(o, PendingAlreadyResolved)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        (_, status), = won
        posted_total += entry.points if status == "posted" else 0

    assert cached(pg_db, customer.id) == (posted_total, 0, posted_total)
    assert no_violations(pg_db) == []


def test_many_resolvers_of_one_pending_entry_agree(pg_db, factory):
    """Retried jobs on both sides: every caller on the winning side sees it succeed."""
    shop = factory.shop()
    customer = factory.customer(shop)
    entry = factory.points(shop, customer, 75, kind="earn_order", pending=True)
    calls = [(lambda s: ledger.post_pending(s, shop_id=shop.id, entry_id=entry.id))] * 5
    calls += [(lambda s: ledger.void_pending(s, shop_id=shop.id, entry_id=entry.id))] * 5

    outcomes = race(pg_db, calls)

    statuses = {o[1] for o in outcomes if isinstance(o, tuple)}
    assert len(statuses) == 1
    (final,) = statuses
    losers = [o for o in outcomes if not isinstance(o, tuple)]
    assert len(losers) == 5 and all(isinstance(o, PendingAlreadyResolved) for o in losers)
    expected = 75 if final == "posted" else 0
    assert cached(pg_db, customer.id) == (expected, 0, expected)
    assert no_violations(pg_db) == []
