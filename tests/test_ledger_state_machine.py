"""The ledger against an independent in-memory model, step by step, on PostgreSQL.

Hypothesis drives a shop with three customers through earnings, pending points that are
posted or voided, redemptions that may be refused, reversals that may overdraw,
adjustments both ways, and replays of any earlier operation (same key and amount: the
first entry comes back and nothing moves; same key, other amount or customer: a
conflict). After every step every cached balance must equal the model's and every SQL
invariant in `app.loyalty.checks` must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, text

from app.loyalty import checks, ledger
from app.loyalty.errors import IdempotencyConflict, InsufficientPoints, PendingAlreadyResolved
from app.models import Base, Customer
from app.shops import create_shop

N_CUSTOMERS = 3
# The model's own idea of which kinds count towards lifetime points and which may overdraw:
# written out here rather than imported, so the test does not share the code under test.
EARNINGS = ("earn_order", "earn_signup", "earn_birthday", "earn_referral", "earn_action", "import")
PENDABLE = ("earn_order", "earn_referral", "earn_action", "earn_signup")
DEBITS = ("redeem", "expire")
amounts = st.integers(min_value=1, max_value=500)
customers = st.integers(min_value=0, max_value=N_CUSTOMERS - 1)


@dataclass
class Account:
    balance: int = 0
    pending: int = 0
    lifetime: int = 0


@dataclass
class Operation:
    """A successful call to `ledger.post`, remembered so it can be replayed."""

    key: str
    customer: int
    points: int
    kind: str
    pending: bool
    entry_id: int


class LedgerMachine(RuleBasedStateMachine):
    db = None  # set by the test to the session-wide PostgreSQL database

    def __init__(self) -> None:
        super().__init__()
        tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        with self.db.transaction() as s:
            shop = create_shop(s, platform="shopify", domain="model.myshopify.com",
                               credentials={"access_token": "shpat_model"})
            rows = [Customer(shop_id=shop.id, platform_id=str(n)) for n in range(N_CUSTOMERS)]
            s.add_all(rows)
            s.flush()
            self.shop_id = shop.id
            self.customer_ids = [c.id for c in rows]
        self.accounts = [Account() for _ in range(N_CUSTOMERS)]
        self.operations: list[Operation] = []
        self.pending_state: dict[int, tuple[Operation, str]] = {}  # entry id -> (op, status)
        self.counter = 0

    # -- helpers ---------------------------------------------------------------------------

    def _post(self, customer: int, points: int, kind: str, *, pending: bool = False):
        self.counter += 1
        key = f"op:{self.counter}"
        with self.db.transaction() as s:
            entry = ledger.post(s, shop_id=self.shop_id, customer_id=self.customer_ids[customer],
                                points=points, kind=kind, idempotency_key=key, pending=pending)
            entry_id, status = entry.id, entry.status
        assert status == ("pending" if pending else "posted")
        op = Operation(key, customer, points, kind, pending, entry_id)
        self.operations.append(op)
        return op

    def _book(self, customer: int, points: int, kind: str) -> None:
        account = self.accounts[customer]
        account.balance += points
        if kind in EARNINGS or kind == "reversal":
            account.lifetime += points

    # -- rules -----------------------------------------------------------------------------

    @rule(customer=customers, points=amounts, kind=st.sampled_from(EARNINGS))
    def earn(self, customer, points, kind):
        self._post(customer, points, kind)
        self._book(customer, points, kind)

    @rule(customer=customers, points=amounts, kind=st.sampled_from(PENDABLE))
    def earn_pending(self, customer, points, kind):
        op = self._post(customer, points, kind, pending=True)
        self.accounts[customer].pending += points
        self.pending_state[op.entry_id] = (op, "pending")

    @precondition(lambda self: self.pending_state)
    @rule(data=st.data(), outcome=st.sampled_from(("posted", "voided")))
    def resolve_pending(self, data, outcome):
        """Post or void any pending entry, including ones already resolved (a retried job)."""
        entry_id = data.draw(st.sampled_from(sorted(self.pending_state)), label="entry")
        op, status = self.pending_state[entry_id]
        resolve = ledger.post_pending if outcome == "posted" else ledger.void_pending
        if status not in ("pending", outcome):
            with pytest.raises(PendingAlreadyResolved), self.db.transaction() as s:
                resolve(s, shop_id=self.shop_id, entry_id=entry_id)
            return
        with self.db.transaction() as s:
            entry = resolve(s, shop_id=self.shop_id, entry_id=entry_id)
            assert (entry.id, entry.status, entry.points) == (entry_id, outcome, op.points)
        if status == "pending":
            self.accounts[op.customer].pending -= op.points
            if outcome == "posted":
                self._book(op.customer, op.points, op.kind)
            self.pending_state[entry_id] = (op, outcome)

    @rule(customer=customers, points=amounts, kind=st.sampled_from(DEBITS))
    def spend(self, customer, points, kind):
        """A redemption or expiry: refused, with nothing written, when it would overdraw."""
        if self.accounts[customer].balance >= points:
            self._post(customer, -points, kind)
            self._book(customer, -points, kind)
            return
        self.counter += 1
        with self.db.transaction() as s:
            with pytest.raises(InsufficientPoints):
                ledger.post(s, shop_id=self.shop_id, customer_id=self.customer_ids[customer],
                            points=-points, kind=kind, idempotency_key=f"refused:{self.counter}")
            # The refusal rolled back only its own savepoint: the transaction goes on.
            assert ledger.find_by_key(s, self.shop_id, f"refused:{self.counter}") is None

    @rule(customer=customers, points=amounts)
    def reversal(self, customer, points):
        """A refund takes earned points back even below zero."""
        self._post(customer, -points, "reversal")
        self._book(customer, -points, "reversal")

    @rule(customer=customers, points=st.integers(min_value=-500, max_value=500).filter(bool))
    def adjust(self, customer, points):
        if points < 0 and self.accounts[customer].balance < -points:
            with pytest.raises(InsufficientPoints), self.db.transaction() as s:
                ledger.post(s, shop_id=self.shop_id, customer_id=self.customer_ids[customer],
                            points=points, kind="adjust", idempotency_key="refused-adjust")
            return
        self._post(customer, points, "adjust")
        self._book(customer, points, "adjust")

    @precondition(lambda self: self.operations)
    @rule(data=st.data())
    def replay(self, data):
        """Any earlier operation again, as a retried job would: the first entry, no change."""
        op = data.draw(st.sampled_from(self.operations), label="replayed")
        with self.db.transaction() as s:
            entry = ledger.post(s, shop_id=self.shop_id, customer_id=self.customer_ids[op.customer],
                                points=op.points, kind=op.kind, idempotency_key=op.key,
                                pending=op.pending)
            assert entry.id == op.entry_id
            assert (entry.points, entry.kind) == (op.points, op.kind)

    @precondition(lambda self: self.operations)
    @rule(data=st.data(), change=st.sampled_from(("amount", "customer")))
    def replay_conflicting(self, data, change):
        """An old key with another amount or customer is refused and changes nothing."""
        op = data.draw(st.sampled_from(self.operations), label="replayed")
        points, customer = op.points, op.customer
        if change == "amount":
            points += data.draw(st.sampled_from((-1, 1) if abs(points) > 1 else (1,)), label="by")
            points = points or 2
        else:
            customer = (customer + 1) % N_CUSTOMERS
        with self.db.transaction() as s:
            with pytest.raises(IdempotencyConflict) as raised:
                ledger.post(s, shop_id=self.shop_id, customer_id=self.customer_ids[customer],
                            points=points, kind=op.kind, idempotency_key=op.key, pending=op.pending)
            assert raised.value.details == {"entry_id": op.entry_id}

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def database_matches_model(self):
        with self.db.session() as s:
            rows = s.execute(
                select(Customer.id, Customer.points_balance, Customer.pending_points,
                       Customer.lifetime_points).where(Customer.shop_id == self.shop_id)
            ).all()
            cached = {row.id: (row.points_balance, row.pending_points, row.lifetime_points)
                      for row in rows}
            expected = {self.customer_ids[n]: (a.balance, a.pending, a.lifetime)
                        for n, a in enumerate(self.accounts)}
            assert cached == expected
            assert checks.find_violations(s) == []


def test_ledger_follows_the_model(pg_db):
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"db": pg_db})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
