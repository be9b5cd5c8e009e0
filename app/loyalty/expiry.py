"""Points expiry: earned points are lots that run out, oldest first.

Every posted credit is a *lot* dated by when it was posted (`resolved_at`). Every posted
debit consumes the oldest lots first; a debit larger than every remaining lot (only a
reversal may do that) leaves a *debt* that the next lots repay before they hold anything.
An `expire` entry consumes exactly the lot it names (`reverses_entry_id`), so expiring
never touches younger points. Hence, at any moment, sum(lot remainders) - debt equals the
posted balance, and at most one of the two is non-zero.

A lot earned on local date D (shop time zone) with `points_expire_months` N expires on
D + N months (a day the target month lacks is clamped to its last day: 31 January +
1 month = 28/29 February), at 00:00 shop time: it can be spent up to the day before.

The allocation (`allocate`, `due_expiries`, `due_reminders`) is pure: the database layer
(`expire_customer`, `customer_reminders`, `candidate_customer_ids`) only loads postings
and writes `expire` entries through `ledger.post` with key `expire:{lot_entry_id}`, so an
expiry can never be posted twice, never takes more than the lot still holds, and — the
ledger's own guard — never more than the balance.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.customers import lock_customer
from app.loyalty.program import load_program
from app.models import Customer, LedgerEntry, Shop

EXPIRE_KIND = "expire"
# Slack added to the SQL pre-selection so month clamping (up to 3 days) and the shop's
# time zone (up to a day) can only make it select more customers, never fewer.
_CANDIDATE_SLACK = timedelta(days=5)


# -- pure allocation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """What allocation needs from one posted ledger entry."""

    entry_id: int
    seq: int
    points: int
    kind: str
    posted_at: datetime
    reverses_entry_id: int | None = None


@dataclass
class Lot:
    """One credit and what is left of it."""

    entry_id: int
    earned_at: datetime
    points: int
    remaining: int
    expired: bool = False  # an `expire` entry names this lot


@dataclass
class Allocation:
    lots: list[Lot] = field(default_factory=list)
    debt: int = 0

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots) - self.debt


def allocate(postings: Iterable[Posting]) -> Allocation:
    """Replay a customer's posted entries in `seq` order into lots (see module doc)."""
    result = Allocation()
    by_id: dict[int, Lot] = {}
    for p in sorted(postings, key=lambda p: p.seq):
        if p.points > 0:
            repay = min(result.debt, p.points)
            result.debt -= repay
            lot = Lot(p.entry_id, p.posted_at, p.points, p.points - repay)
            result.lots.append(lot)
            by_id[p.entry_id] = lot
            continue
        need = -p.points
        if p.kind == EXPIRE_KIND and p.reverses_entry_id in by_id:
            target = by_id[p.reverses_entry_id]
            target.expired = True
            take = min(target.remaining, need)
            target.remaining -= take
            need -= take
        for lot in result.lots:  # oldest first
            if need == 0:
                break
            take = min(lot.remaining, need)
            lot.remaining -= take
            need -= take
        result.debt += need
    return result


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months; a day the target month lacks becomes its last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def expiry_date(earned_at: datetime, months: int, tz: ZoneInfo) -> date:
    """The local day points earned at `earned_at` expire on (gone from its first minute)."""
    return add_months(earned_at.astimezone(tz).date(), months)


def expires_at(earned_at: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The instant (UTC) the lot is gone: 00:00 shop time on its expiry date."""
    return datetime.combine(expiry_date(earned_at, months, tz), time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DueExpiry:
    lot_entry_id: int
    points: int  # positive: how many points the expire entry takes
    earned_at: datetime
    expiry_date: date


def due_expiries(
    allocation: Allocation, months: int | None, tz: ZoneInfo, now: datetime
) -> list[DueExpiry]:
    """Lots past their end that still hold points, oldest first; each takes at most what
    the lot holds, and all together at most the balance."""
    if months is None:
        return []
    budget = max(allocation.balance, 0)
    due = []
    for lot in allocation.lots:
        if budget == 0:
            break
        if lot.expired or lot.remaining <= 0 or expires_at(lot.earned_at, months, tz) > now:
            continue
        take = min(lot.remaining, budget)
        budget -= take
        due.append(
            DueExpiry(lot.entry_id, take, lot.earned_at, expiry_date(lot.earned_at, months, tz))
        )
    return due


@dataclass(frozen=True)
class Reminder:
    """One reminder mail: the points of every lot expiring on `expiry_date`."""

    lot_entry_id: int  # the first lot expiring that day: names the reminder for good
    days: int
    expiry_date: date
    points: int

    @property
    def event_key(self) -> str:
        return f"expiring:{self.lot_entry_id}:{self.days}"


def due_reminders(
    allocation: Allocation,
    months: int | None,
    tz: ZoneInfo,
    reminder_days: Sequence[int],
    now: datetime,
) -> list[Reminder]:
    """Per expiry date with points left: the most urgent reminder day already reached
    (a missed 30-day reminder is not sent once the 7-day one is due). Lots expiring the
    same day share one mail, named by the first of them, so its key never changes."""
    days = sorted({d for d in reminder_days if d >= 0})
    if months is None or not days:
        return []
    today = now.astimezone(tz).date()
    groups: dict[date, list[Lot]] = {}
    for lot in allocation.lots:
        groups.setdefault(expiry_date(lot.earned_at, months, tz), []).append(lot)
    found = []
    for day, lots in sorted(groups.items()):
        points = sum(lot.remaining for lot in lots if not lot.expired)
        if points <= 0 or today >= day:
            continue
        reached = [d for d in days if today >= day - timedelta(days=d)]
        if reached:
            found.append(Reminder(lots[0].entry_id, reached[0], day, points))
    return found


# -- database ----------------------------------------------------------------------------


def shop_timezone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def load_postings(session: Session, shop_id: int, customer_id: int) -> list[Posting]:
    rows = session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.seq,
            LedgerEntry.points,
            LedgerEntry.kind,
            LedgerEntry.resolved_at,
            LedgerEntry.reverses_entry_id,
        )
        .where(
            LedgerEntry.shop_id == shop_id,
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.status == "posted",
        )
        .order_by(LedgerEntry.seq)
    ).all()
    return [
        Posting(r.id, r.seq, r.points, r.kind, r.resolved_at, r.reverses_entry_id) for r in rows
    ]


def customer_allocation(session: Session, shop_id: int, customer_id: int) -> Allocation:
    return allocate(load_postings(session, shop_id, customer_id))


def expire_customer(
    session: Session, shop: Shop, customer_id: int, now: datetime
) -> list[LedgerEntry]:
    """Post an `expire` entry for every lot of this customer past its end. The customer
    row is locked first, so this and any spend serialise; running it twice expires once."""
    months = load_program(shop).points_expire_months
    if months is None:
        return []
    lock_customer(session, shop.id, customer_id)
    allocation = customer_allocation(session, shop.id, customer_id)
    posted = []
    for due in due_expiries(allocation, months, shop_timezone(shop), now):
        posted.append(
            ledger.post(
                session,
                shop_id=shop.id,
                customer_id=customer_id,
                points=-due.points,
                kind=EXPIRE_KIND,
                idempotency_key=f"expire:{due.lot_entry_id}",
                reverses_entry_id=due.lot_entry_id,
                reason=f"points earned {due.earned_at.astimezone(shop_timezone(shop)).date().isoformat()} "
                f"expired after {due.expiry_date.isoformat()}",
                now=now,
            )
        )
    return posted


def customer_reminders(
    session: Session, shop: Shop, customer_id: int, now: datetime
) -> list[Reminder]:
    settings = load_program(shop)
    allocation = customer_allocation(session, shop.id, customer_id)
    return due_reminders(
        allocation,
        settings.points_expire_months,
        shop_timezone(shop),
        settings.expiry_reminder_days,
        now,
    )


def candidate_cutoff(shop: Shop, now: datetime) -> datetime | None:
    """Lots posted after this instant can neither be expired nor reminded about at `now`."""
    settings = load_program(shop)
    months = settings.points_expire_months
    if months is None:
        return None
    horizon = timedelta(days=max([d for d in settings.expiry_reminder_days if d >= 0], default=0))
    ahead = now + horizon + _CANDIDATE_SLACK
    back = add_months(ahead.date(), -months)
    return datetime.combine(back, ahead.timetz()).astimezone(UTC)


def candidate_customer_ids(session: Session, shop: Shop, now: datetime) -> list[int]:
    """One set-based query: customers of `shop` with a positive balance whose posted
    credits up to the cutoff exceed all their debits — i.e. under oldest-first spending
    some old lot still holds points. Exact rules are applied per customer afterwards."""
    cutoff = candidate_cutoff(shop, now)
    if cutoff is None:
        return []
    e = LedgerEntry
    old_credits = func.sum(case((((e.points > 0) & (e.resolved_at <= cutoff)), e.points), else_=0))
    debits = func.sum(case((e.points < 0, -e.points), else_=0))
    stmt = (
        select(e.customer_id)
        .join(Customer, (Customer.id == e.customer_id) & (Customer.shop_id == shop.id))
        .where(e.shop_id == shop.id, e.status == "posted", Customer.points_balance > 0)
        .group_by(e.customer_id)
        .having(old_credits > debits)
        .order_by(e.customer_id)
    )
    return [int(cid) for cid in session.scalars(stmt)]
