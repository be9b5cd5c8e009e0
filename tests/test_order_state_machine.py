"""Random sequences of order events — created, paid, refunded in part or in full,
cancelled, duplicated, reordered, stale, refunds alone, pending points coming due — for
three orders of two customers. After every step each customer's order points (posted +
pending) must equal what the latest state of their orders implies, computed here
independently, and the ledger invariants must hold."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from app.loyalty import orders, pending
from app.loyalty.checks import find_violations
from app.loyalty.events import CustomerInfo, OrderEvent, Refund, RefundEvent
from app.models import Customer, LedgerEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDERS = {"1001": ("c1", 5000), "1002": ("c1", 12345), "1003": ("c2", 999)}


def expected_points(state, refunds) -> int:
    """Refunds only accumulate: every refund that exists counts, whichever event told us."""
    if state is None or not state["paid"] or state["cancelled"]:
        return 0
    refunded = min(sum(refunds.values()), state["lines"])
    return (state["lines"] - refunded) // 100


def test_orders_converge_under_random_event_sequences(pg_db, factory):
    db = pg_db

    class Orders(RuleBasedStateMachine):
        @initialize(pending_days=st.sampled_from([0, 2]))
        def start(self, pending_days):
            self.shop = factory.shop("shopify", program={"pending_days": pending_days})
            self.clock = 0  # platform updated_at, in seconds after T0
            self.now = T0
            self.sent = {oid: [] for oid in ORDERS}  # every version sent, oldest first
            self.current = {oid: None for oid in ORDERS}  # the latest version applied
            self.refunds = {oid: {} for oid in ORDERS}  # every refund that exists
            self.next_refund = 1

        # -- sending ---------------------------------------------------------------

        def version(self, oid, **changes):
            base = self.current[oid] or {"paid": False, "cancelled": False, "lines": ORDERS[oid][1]}
            self.clock += 1
            return {**base, **changes, "refunds": dict(self.refunds[oid]), "at": self.clock}

        def event(self, oid, state):
            customer, lines = ORDERS[oid]
            return OrderEvent(
                platform_order_id=oid, name=f"#{oid}",
                customer=CustomerInfo(customer, f"{customer}@example.test", customer, None, False),
                updated_at=T0 + timedelta(seconds=state["at"]), placed_at=T0, currency="USD",
                paid=state["paid"], cancelled=state["cancelled"], test=False,
                status="cancelled" if state["cancelled"] else "open",
                financial_status="paid" if state["paid"] else "pending",
                lines_minor=lines, gift_card_minor=0, shipping_minor=500, tax_minor=300,
                total_minor=lines + 800,
                refunds=tuple(Refund(rid, None, amount, 0, 0) for rid, amount in sorted(state["refunds"].items())),
            )

        def send(self, oid, state):
            with db.transaction() as s:
                orders.converge_order(s, s.merge(self.shop), self.event(oid, state), now=self.now)
            if self.current[oid] is None or state["at"] >= self.current[oid]["at"]:
                self.current[oid] = state

        def publish(self, oid, state):
            self.sent[oid].append(state)
            self.send(oid, state)

        # -- rules -----------------------------------------------------------------

        @rule(oid=st.sampled_from(sorted(ORDERS)), paid=st.booleans())
        def create_or_update(self, oid, paid):
            self.publish(oid, self.version(oid, paid=paid))

        @rule(oid=st.sampled_from(sorted(ORDERS)), share=st.integers(1, 60))
        def partial_refund(self, oid, share):
            self.refunds[oid][f"r{self.next_refund}"] = ORDERS[oid][1] * share // 100
            self.next_refund += 1
            self.publish(oid, self.version(oid))

        @rule(oid=st.sampled_from(sorted(ORDERS)))
        def full_refund(self, oid):
            left = ORDERS[oid][1] - sum(self.refunds[oid].values())
            if left > 0:
                self.refunds[oid][f"r{self.next_refund}"] = left
                self.next_refund += 1
            self.publish(oid, self.version(oid))

        @rule(oid=st.sampled_from(sorted(ORDERS)), share=st.integers(1, 100))
        def refund_alone_first(self, oid, share):
            """refunds/create arrives before the orders/updated that carries it."""
            rid = f"r{self.next_refund}"
            self.next_refund += 1
            amount = ORDERS[oid][1] * share // 100
            self.refunds[oid][rid] = amount
            with db.transaction() as s:
                orders.apply_refund(s, s.merge(self.shop), RefundEvent(oid, Refund(rid, None, amount)), now=self.now)

        @rule(oid=st.sampled_from(sorted(ORDERS)))
        def cancel(self, oid):
            self.publish(oid, self.version(oid, cancelled=True))

        @rule(oid=st.sampled_from(sorted(ORDERS)))
        def duplicate(self, oid):
            if self.sent[oid]:
                self.send(oid, self.sent[oid][-1])

        @rule(oid=st.sampled_from(sorted(ORDERS)), back=st.integers(1, 5))
        def stale(self, oid, back):
            if len(self.sent[oid]) > back:
                self.send(oid, self.sent[oid][-1 - back])

        @rule(oid=st.sampled_from(sorted(ORDERS)), paid=st.booleans())
        def out_of_order(self, oid, paid):
            older = self.version(oid, paid=not paid)
            newer = self.version(oid, paid=paid)
            self.sent[oid] += [older, newer]
            self.send(oid, newer)
            self.send(oid, older)

        @rule(days=st.integers(1, 3))
        def time_passes(self, days):
            self.now += timedelta(days=days)
            with db.session() as s:
                due = [d for d in pending.due_pending_ids(s, self.now) if d[0] == self.shop.id]
            for shop_id, entry_id in due:
                with db.transaction() as s:
                    pending.post_due_entry(s, shop_id, entry_id, self.now)

        # -- checks ----------------------------------------------------------------

        @invariant()
        def points_match_latest_state(self):
            if not hasattr(self, "shop"):
                return
            with db.session() as s:
                for customer in ("c1", "c2"):
                    expected = sum(
                        expected_points(self.current[oid], self.refunds[oid]) for oid, (who, _) in ORDERS.items() if who == customer
                    )
                    booked = s.scalar(
                        select(func.coalesce(func.sum(LedgerEntry.points), 0))
                        .join(Customer, Customer.id == LedgerEntry.customer_id)
                        .where(LedgerEntry.shop_id == self.shop.id, Customer.platform_id == customer,
                               LedgerEntry.status != "voided", LedgerEntry.kind.in_(("earn_order", "reversal")))
                    )
                    assert int(booked) == expected, (customer, self.current)
                assert find_violations(s, self.shop.id) == []

    run_state_machine_as_test(
        Orders,
        settings=settings(max_examples=30, stateful_step_count=20, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
