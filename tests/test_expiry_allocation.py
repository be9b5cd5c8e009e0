"""The pure oldest-first allocation behind points expiry (`app.loyalty.expiry`).

Hypothesis builds a customer's posted history — earnings, spends that may not overdraw,
reversals that may, and expiry runs at later and later times — and checks what an expiry
run may take: never more than a lot still holds, never more than the balance, never a lot
below zero, everything past its end taken, nothing before it, and nothing a second time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.loyalty.expiry import (
    Allocation,
    Posting,
    add_months,
    allocate,
    due_expiries,
    due_reminders,
    expires_at,
    expiry_date,
)

START = datetime(2024, 1, 1, tzinfo=UTC)
ZONES = st.sampled_from(
    ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Asia/Kathmandu"]
)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 500), st.integers(0, 40)),
        st.tuples(st.just("spend"), st.integers(1, 500), st.integers(0, 40)),
        st.tuples(st.just("reversal"), st.integers(1, 500), st.integers(0, 40)),
        st.tuples(st.just("expire_run"), st.just(0), st.integers(0, 120)),
    ),
    max_size=40,
)


class History:
    """A customer's posted entries, built the way the ledger would accept them."""

    def __init__(self) -> None:
        self.postings: list[Posting] = []
        self.now = START

    @property
    def balance(self) -> int:
        return sum(p.points for p in self.postings)

    def post(self, points: int, kind: str, reverses: int | None = None) -> None:
        n = len(self.postings) + 1
        self.postings.append(Posting(n, n, points, kind, self.now, reverses))


def check_shape(allocation: Allocation, history: History) -> None:
    assert allocation.debt >= 0
    for lot in allocation.lots:
        assert 0 <= lot.remaining <= lot.points
    assert allocation.balance == history.balance
    if allocation.debt:
        assert all(lot.remaining == 0 for lot in allocation.lots)


@settings(max_examples=300, deadline=None)
@given(steps=steps, months=st.integers(1, 24), zone=ZONES)
def test_expiry_never_takes_more_than_remains(steps, months, zone):
    tz = ZoneInfo(zone)
    history = History()
    for action, points, days in steps:
        history.now += timedelta(days=days, minutes=7)
        if action == "earn":
            history.post(points, "earn_order")
        elif action == "spend" and history.balance >= points:
            history.post(-points, "redeem")
        elif action == "reversal":
            history.post(-points, "reversal")
        elif action == "expire_run":
            before = allocate(history.postings)
            check_shape(before, history)
            due = due_expiries(before, months, tz, history.now)
            lots = {lot.entry_id: lot for lot in before.lots}
            assert sum(d.points for d in due) <= max(history.balance, 0)
            for d in due:
                lot = lots[d.lot_entry_id]
                assert 0 < d.points <= lot.remaining
                assert not lot.expired
                assert expires_at(lot.earned_at, months, tz) <= history.now
            assert len({d.lot_entry_id for d in due}) == len(due)
            for d in due:
                history.post(-d.points, "expire", d.lot_entry_id)
            after = allocate(history.postings)
            check_shape(after, history)
            # Everything past its end is gone; nothing younger was touched.
            for lot in after.lots:
                if expires_at(lot.earned_at, months, tz) <= history.now:
                    assert lot.remaining == 0
            untouched = {
                lot.entry_id: lot.remaining
                for lot in before.lots
                if lot.entry_id not in {d.lot_entry_id for d in due}
            }
            assert {
                lot.entry_id: lot.remaining for lot in after.lots if lot.entry_id in untouched
            } == untouched
            # A second run at the same moment takes nothing.
            assert due_expiries(after, months, tz, history.now) == []
    check_shape(allocate(history.postings), history)


@settings(max_examples=300, deadline=None)
@given(amounts=st.lists(st.integers(-500, 500).filter(bool), max_size=40))
def test_oldest_first_matches_the_closed_form_used_by_the_liability_report(amounts):
    """Without expiry entries, each lot keeps clamp(credits up to it - all debits, 0, points):
    the formula the liability report computes in SQL."""
    history = History()
    for points in amounts:
        history.post(points, "earn_order" if points > 0 else "reversal")
    allocation = allocate(history.postings)
    check_shape(allocation, history)
    debits = -sum(p.points for p in history.postings if p.points < 0)
    credited = 0
    expected = []
    for p in history.postings:
        if p.points > 0:
            credited += p.points
            expected.append(min(max(credited - debits, 0), p.points))
    assert [lot.remaining for lot in allocation.lots] == expected


def test_a_debit_spends_the_oldest_lot_first():
    history = History()
    history.post(100, "earn_order")
    history.now += timedelta(days=31)
    history.post(50, "earn_order")
    history.post(-120, "redeem")
    assert [lot.remaining for lot in allocate(history.postings).lots] == [0, 30]


def test_a_later_lot_repays_a_debt_before_it_holds_points():
    history = History()
    history.post(100, "earn_order")
    history.post(-100, "redeem")
    history.post(-60, "reversal")  # a refund after the points were spent: balance -60
    history.post(150, "earn_order")
    allocation = allocate(history.postings)
    assert allocation.debt == 0
    assert [lot.remaining for lot in allocation.lots] == [0, 90]


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), months=st.integers(0, 120)
)
def test_add_months_clamps_to_the_month_end(day, months):
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or (moved.day < day.day and (moved + timedelta(days=1)).day == 1)


def test_month_end_and_leap_days():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


def test_the_expiry_date_is_the_local_day_the_points_were_earned():
    earned = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)  # 31 January 22:00 in New York
    new_york, tokyo = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
    assert expiry_date(earned, 1, new_york) == date(2026, 2, 28)
    assert expires_at(earned, 1, new_york) == datetime(2026, 2, 28, 5, 0, tzinfo=UTC)
    assert expiry_date(earned, 1, tokyo) == date(2026, 3, 1)
    assert expires_at(earned, 1, tokyo) == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)


def _lots(*earned: tuple[int, datetime]) -> Allocation:
    return allocate(
        Posting(n, n, points, "earn_order", at) for n, (points, at) in enumerate(earned, 1)
    )


def test_reminder_is_the_most_urgent_reminder_day_reached():
    utc = ZoneInfo("UTC")
    lots = _lots((100, datetime(2026, 1, 10, 12, tzinfo=UTC)))  # expires 10 March
    at = lambda day: datetime(2026, day[0], day[1], 9, tzinfo=UTC)  # noqa: E731
    assert due_reminders(lots, 2, utc, [30, 7], at((2, 7))) == []
    (first,) = due_reminders(lots, 2, utc, [30, 7], at((2, 8)))
    assert (first.days, first.points, first.expiry_date, first.event_key) == (
        30,
        100,
        date(2026, 3, 10),
        "expiring:1:30",
    )
    (second,) = due_reminders(lots, 2, utc, [7, 30], at((3, 3)))
    assert second.event_key == "expiring:1:7"
    assert due_reminders(lots, 2, utc, [30, 7], at((3, 10))) == []  # expiring today: too late
    assert due_reminders(lots, None, utc, [30, 7], at((3, 3))) == []


def test_lots_expiring_the_same_day_share_one_reminder_named_by_the_first():
    utc = ZoneInfo("UTC")
    lots = _lots(
        (100, datetime(2026, 1, 10, 8, tzinfo=UTC)),
        (40, datetime(2026, 1, 10, 20, tzinfo=UTC)),
        (5, datetime(2026, 1, 11, 8, tzinfo=UTC)),
    )
    reminders = due_reminders(lots, 2, utc, [30], datetime(2026, 2, 10, tzinfo=UTC))
    assert [(r.event_key, r.points) for r in reminders] == [
        ("expiring:1:30", 140),
        ("expiring:3:30", 5),
    ]
