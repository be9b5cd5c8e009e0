"""Points expiry against an independent in-memory model, step by step, on PostgreSQL.

Hypothesis drives two shoppers of a shop in Auckland (points expire after two months)
through earnings, pending points posted later, redemptions that may be refused, refund
reversals that may overdraw, adjustments both ways, time moving forward and runs of the
nightly expiry job (sometimes twice in a row). The model keeps its own lots, oldest
spent first, with refund debt repaid by the next lot. After every step: balances equal
the model, what is left of each lot equals the model, every expired lot has exactly one
`expire` entry of the model's amount, the liability report's lot total equals the model,
and every ledger invariant holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from order_helpers import use_runtime
from sqlalchemy import select, update

from app.jobs import expiry_jobs
from app.loyalty import checks, expiry, ledger, liability
from app.loyalty.errors import InsufficientPoints
from app.models import Customer, LedgerEntry, Shop
from app.shops import create_shop

MONTHS = 2
ZONE = "Pacific/Auckland"
N_CUSTOMERS = 2
amounts = st.integers(min_value=1, max_value=300)
customers = st.integers(min_value=0, max_value=N_CUSTOMERS - 1)


@dataclass
class ModelLot:
    entry_id: int
    earned_at: datetime
    remaining: int
    expired_points: int | None = None  # set when the job expired it


@dataclass
class Account:
    lots: list[ModelLot] = field(default_factory=list)
    debt: int = 0

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots) - self.debt

    def credit(self, entry_id: int, points: int, at: datetime) -> None:
        repaid = min(self.debt, points)
        self.debt -= repaid
        self.lots.append(ModelLot(entry_id, at, points - repaid))

    def debit(self, points: int) -> None:
        for lot in self.lots:
            taken = min(lot.remaining, points)
            lot.remaining -= taken
            points -= taken
        self.debt += points


class ExpiryMachine(RuleBasedStateMachine):
    db = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        ExpiryMachine.examples += 1
        with self.db.transaction() as s:
            shop = create_shop(
                s,
                platform="shopify",
                domain=f"expiry-{self.examples}.myshopify.com",
                credentials={"access_token": "shpat_model"},
                program={"points_expire_months": MONTHS, "expiry_reminder_days": [30, 7]},
            )
            s.execute(update(Shop).where(Shop.id == shop.id).values(timezone=ZONE))
            rows = [
                Customer(shop_id=shop.id, platform_id=str(n), email=f"m{n}@example.test")
                for n in range(N_CUSTOMERS)
            ]
            s.add_all(rows)
            s.flush()
            self.shop_id = shop.id
            self.customer_ids = [c.id for c in rows]
        self.accounts = [Account() for _ in range(N_CUSTOMERS)]
        self.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
        self.pending: dict[int, tuple[int, int]] = {}  # entry id -> (customer, points)
        self.counter = 0

    examples = 0

    def _post(self, customer: int, points: int, kind: str, **kw):
        self.counter += 1
        with self.db.transaction() as s:
            entry = ledger.post(
                s,
                shop_id=self.shop_id,
                customer_id=self.customer_ids[customer],
                points=points,
                kind=kind,
                idempotency_key=f"op:{self.counter}",
                now=self.now,
                **kw,
            )
            return entry.id

    # -- rules -----------------------------------------------------------------------------

    @rule(
        customer=customers,
        points=amounts,
        kind=st.sampled_from(("earn_order", "earn_action", "import")),
    )
    def earn(self, customer, points, kind):
        entry_id = self._post(customer, points, kind)
        self.accounts[customer].credit(entry_id, points, self.now)

    @rule(customer=customers, points=amounts)
    def earn_pending(self, customer, points):
        entry_id = self._post(customer, points, "earn_order", pending=True)
        self.pending[entry_id] = (customer, points)

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def points_become_spendable(self, data):
        entry_id = data.draw(st.sampled_from(sorted(self.pending)), label="pending entry")
        customer, points = self.pending.pop(entry_id)
        with self.db.transaction() as s:
            ledger.post_pending(s, shop_id=self.shop_id, entry_id=entry_id, now=self.now)
        self.accounts[customer].credit(entry_id, points, self.now)

    @rule(customer=customers, points=amounts, kind=st.sampled_from(("redeem", "adjust")))
    def spend(self, customer, points, kind):
        """A redemption or a manual debit: refused when it would overdraw."""
        account = self.accounts[customer]
        if account.balance < points:
            with pytest.raises(InsufficientPoints):
                self._post(customer, -points, kind)
            return
        self._post(customer, -points, kind)
        account.debit(points)

    @rule(customer=customers, points=amounts)
    def refund_reversal(self, customer, points):
        self._post(customer, -points, "reversal")
        self.accounts[customer].debit(points)

    @rule(customer=customers, points=amounts)
    def goodwill_adjustment(self, customer, points):
        entry_id = self._post(customer, points, "adjust")
        self.accounts[customer].credit(entry_id, points, self.now)

    @rule(days=st.integers(min_value=0, max_value=45), hours=st.integers(min_value=0, max_value=23))
    def time_passes(self, days, hours):
        self.now += timedelta(days=days, hours=hours)

    @rule(twice=st.booleans())
    def nightly_expiry(self, twice):
        expiry_jobs.run_expiry(now=self.now, local_hour=None)
        if twice:
            expiry_jobs.run_expiry(now=self.now, local_hour=None)
        tz = ZoneInfo(ZONE)
        for account in self.accounts:
            for lot in account.lots:
                due = expiry.expires_at(lot.earned_at, MONTHS, tz) <= self.now
                if due and lot.expired_points is None and lot.remaining > 0:
                    lot.expired_points, lot.remaining = lot.remaining, 0

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def database_matches_model(self):
        with self.db.session() as s:
            balances = dict(
                s.execute(
                    select(Customer.id, Customer.points_balance).where(
                        Customer.shop_id == self.shop_id
                    )
                ).all()
            )
            assert balances == {
                self.customer_ids[n]: a.balance for n, a in enumerate(self.accounts)
            }
            expired = {
                row.reverses_entry_id: -row.points
                for row in s.execute(
                    select(LedgerEntry.reverses_entry_id, LedgerEntry.points).where(
                        LedgerEntry.shop_id == self.shop_id, LedgerEntry.kind == "expire"
                    )
                )
            }
            assert expired == {
                lot.entry_id: lot.expired_points
                for a in self.accounts
                for lot in a.lots
                if lot.expired_points is not None
            }
            for n, account in enumerate(self.accounts):
                allocation = expiry.customer_allocation(s, self.shop_id, self.customer_ids[n])
                assert [(lot.entry_id, lot.remaining) for lot in allocation.lots] == [
                    (lot.entry_id, lot.remaining) for lot in account.lots
                ]
                assert allocation.debt == account.debt
            report = liability.liability_report(s, s.get(Shop, self.shop_id), self.now)
            assert sum(b.points for b in report.by_age) == sum(
                lot.remaining for a in self.accounts for lot in a.lots
            )
            assert report.outstanding_points == sum(max(a.balance, 0) for a in self.accounts)
            assert checks.find_violations(s, self.shop_id) == []


def test_expiry_follows_the_model(pg_db, settings, monkeypatch):
    import app.jobs.mail_jobs as mail_jobs

    monkeypatch.setattr(mail_jobs, "send_mail", lambda message_id, **kw: None)  # queued, not sent
    runtime = use_runtime(pg_db, settings)
    next(runtime)
    try:
        machine = type("BoundExpiryMachine", (ExpiryMachine,), {"db": pg_db})
        run_state_machine_as_test(
            machine,
            settings=hypothesis_settings(
                max_examples=30,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        next(runtime, None)
