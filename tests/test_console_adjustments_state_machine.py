"""Console adjustments against an independent model, step by step, on PostgreSQL.

Hypothesis has a support agent and an admin adjust one shopper's points (support beyond
the limit files a request instead), undo any earlier adjustment (again and again), and
approve or reject any request (again and again). The invariants: the balance is the
model's; every adjustment is undone at most once and an undo exactly cancels it; a
request is decided once, an approved one has exactly one entry and a rejected one none;
nothing is ever deleted; and every ledger invariant holds.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from app.console import adjustments
from app.errors import Conflict, Forbidden, ValidationFailed
from app.loyalty import checks, ledger
from app.models import AdjustmentRequest, Base, Customer, LedgerEntry, StaffUser
from app.shops import create_shop

LIMIT = 100  # the support limit for this machine
START = 300
amounts = st.integers(min_value=-250, max_value=250).filter(lambda n: n != 0)
roles = st.sampled_from(["support", "admin"])


class AdjustmentMachine(RuleBasedStateMachine):
    db = None

    def __init__(self) -> None:
        super().__init__()
        tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        with self.db.transaction() as s:
            shop = create_shop(s, platform="shopify", domain="console-model.myshopify.com",
                               credentials={"access_token": "shpat_model"})
            customer = Customer(shop_id=shop.id, platform_id="1")
            staff = {role: StaffUser(shop_id=shop.id, email=f"{role}@example.test", role=role)
                     for role in ("support", "admin")}
            s.add_all([customer, *staff.values()])
            s.flush()
            ledger.post(s, shop_id=shop.id, customer_id=customer.id, points=START, kind="earn_signup",
                        idempotency_key="start")
            adjustments.set_support_limit(s, shop_id=shop.id, staff=staff["admin"], limit=LIMIT)
            self.shop_id, self.customer_id = shop.id, customer.id
            self.staff_ids = {role: user.id for role, user in staff.items()}
        self.balance = START
        self.posted: dict[int, int] = {}  # adjustment entry id -> points
        self.undone: set[int] = set()
        self.requests: dict[int, tuple[int, str]] = {}  # request id -> (points, status)

    def _run(self, fn):
        with self.db.session() as s:
            try:
                result = fn(s)
            except (Conflict, Forbidden, ValidationFailed) as exc:
                s.rollback()
                return exc
            s.commit()
            return result

    def _staff(self, s, role):
        return s.get(StaffUser, self.staff_ids[role])

    @rule(role=roles, points=amounts)
    def adjust(self, role, points):
        outcome = self._run(lambda s: adjustments.adjust(
            s, staff=self._staff(s, role), customer_id=self.customer_id, points=points,
            reason_code="goodwill", note=uuid.uuid4().hex, form_key=uuid.uuid4().hex))
        if role == "support" and abs(points) > LIMIT:
            assert outcome.request is not None and outcome.entry is None
            self.requests[outcome.request.id] = (points, "pending")
        elif self.balance + points < 0:
            assert isinstance(outcome, ValidationFailed)
        else:
            assert outcome.entry is not None and not outcome.replayed
            self.balance += points
            self.posted[outcome.entry.id] = points

    @precondition(lambda self: self.posted)
    @rule(data=st.data(), role=roles)
    def undo(self, data, role):
        entry_id = data.draw(st.sampled_from(sorted(self.posted)))
        points = self.posted[entry_id]
        result = self._run(lambda s: adjustments.undo(s, staff=self._staff(s, role), entry_id=entry_id))
        if role == "support" and abs(points) > LIMIT:
            assert isinstance(result, Forbidden)
        elif entry_id in self.undone:
            assert isinstance(result, Conflict)
        elif self.balance - points < 0:
            assert isinstance(result, ValidationFailed)
        else:
            assert result.points == -points and result.reverses_entry_id == entry_id
            self.balance -= points
            self.undone.add(entry_id)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), approve=st.booleans(), role=roles)
    def decide(self, data, approve, role):
        request_id = data.draw(st.sampled_from(sorted(self.requests)))
        points, status = self.requests[request_id]
        fn = adjustments.approve if approve else adjustments.reject
        result = self._run(lambda s: fn(s, staff=self._staff(s, role), request_id=request_id))
        if role == "support":
            assert isinstance(result, Forbidden)
        elif status != "pending":
            assert isinstance(result, Conflict)
        elif not approve:
            assert result is None
            self.requests[request_id] = (points, "rejected")
        elif self.balance + points < 0:
            assert isinstance(result, ValidationFailed)
        else:
            assert result.points == points
            self.balance += points
            self.posted[result.id] = points
            self.requests[request_id] = (points, "approved")

    @invariant()
    def database_matches_model(self):
        with self.db.session() as s:
            assert s.get(Customer, self.customer_id).points_balance == self.balance
            undo_counts = s.execute(
                select(LedgerEntry.reverses_entry_id, func.count())
                .where(LedgerEntry.shop_id == self.shop_id, LedgerEntry.reverses_entry_id.is_not(None))
                .group_by(LedgerEntry.reverses_entry_id)
            ).all()
            assert {entry_id: n for entry_id, n in undo_counts} == {i: 1 for i in self.undone}
            adjust_ids = set(s.scalars(select(LedgerEntry.id).where(
                LedgerEntry.kind == "adjust", LedgerEntry.reverses_entry_id.is_(None))))
            assert adjust_ids == set(self.posted)  # nothing deleted, nothing extra
            rows = s.scalars(select(AdjustmentRequest)).all()
            assert {r.id: (r.points, r.status) for r in rows} == self.requests
            for r in rows:
                key = adjustments.APPROVAL_KEY + str(r.id)
                entry = ledger.find_by_key(s, self.shop_id, key)
                if r.status == "approved":
                    assert entry is not None and entry.id == r.entry_id and entry.points == r.points
                else:
                    assert entry is None and r.entry_id is None
            assert checks.find_violations(s) == []


def test_console_adjustments_follow_the_model(pg_db):
    machine = type("BoundAdjustmentMachine", (AdjustmentMachine,), {"db": pg_db})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20, stateful_step_count=12, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
