"""Programme KPIs: plain functions over a session and a shop id, each one documented query.

Every figure has a definition id (`DEFINITIONS`), which is also the anchor of its section
in docs/analytics.md and on the console dashboard, so a screen can link any number to how
it is computed. Periods are half-open UTC intervals [start, end).

Shared terms:
- **eligible order**: an order snapshot of the shop that is paid, not cancelled, not
  deleted, not a test, in the shop's currency (the same orders as a customer's
  `orders_count`), placed in the period; its value is `total_minor` as placed (refunds are
  not deducted, taxes and shipping are included).
- **member** (as of a moment t): a customer of the shop with at least one *posted* ledger
  entry resolved before t — they have points history: they earned, redeemed, were
  imported or adjusted. The customer model has no separate "enrolled" flag: every
  customer the shop's platform reports can earn, so taking part is what makes a member.
  A **non-member** is a customer record with no posted entry before t. Orders without a
  customer (guest checkouts) belong to neither group and are counted on their own.

Money is integer minor units of the shop's currency; rates are ratios between 0 and 1
given with their numerator and denominator; no float ever holds money or points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.orm import Session

from app.loyalty import liability
from app.models import LedgerEntry, OrderSnapshot, Shop

EARN_KINDS = ("earn_order", "earn_signup", "earn_birthday", "earn_referral", "earn_action")
MAX_PERIOD_DAYS = 731
CLV_DAYS = 365

# id -> (title, how it is computed). The ids are the anchors in docs/analytics.md.
DEFINITIONS: dict[str, tuple[str, str]] = {
    "members": (
        "Members",
        "Customers of the shop with at least one posted ledger entry resolved before the end of "
        "the period.",
    ),
    "customers-with-orders": (
        "Customers with orders",
        "Distinct customers of the group with at least one eligible order placed in the period.",
    ),
    "repeat-purchase-rate": (
        "Repeat-purchase rate",
        "Customers of the group with two or more eligible orders in the period / customers of "
        "the group with at least one.",
    ),
    "aov": (
        "Average order value",
        "Sum of total_minor of the group's eligible orders in the period / their number, "
        "rounded down to a minor unit.",
    ),
    "revenue-per-customer": (
        "Revenue per customer",
        "Sum of total_minor of the group's eligible orders in the period / customers of the "
        "group with at least one such order, rounded down.",
    ),
    "guest-orders": (
        "Guest orders",
        "Eligible orders in the period with no customer attached (guest checkout), and their "
        "total_minor.",
    ),
    "participation-rate": (
        "Participation rate",
        "Members (as of the end of the period) with a posted earn_* or redeem entry resolved in "
        "the period / members.",
    ),
    "redemption-rate": (
        "Redemption rate",
        "Points redeemed in the period / points issued in the period (both defined below).",
    ),
    "points-issued": (
        "Points issued",
        "Sum of posted entries of kinds earn_order, earn_signup, earn_birthday, earn_referral "
        "and earn_action resolved in the period (imports, adjustments and refund reversals are "
        "not issuing).",
    ),
    "points-redeemed": (
        "Points redeemed",
        "Minus the sum of posted redeem entries resolved in the period (a reward code that could "
        "not be created gives its points back with a redeem entry, so it nets out).",
    ),
    "points-expired": (
        "Points expired",
        "Minus the sum of posted expire entries resolved in the period.",
    ),
    "points-liability": (
        "Points liability",
        "Outstanding points (the sum of positive customer balances, each balance being the sum "
        "of the customer's posted entries up to that moment) times the programme's "
        "point_value_minor. The current figure is app.loyalty.liability's outstanding total; the "
        "monthly figures are taken at each month's end (or the period's end).",
    ),
    "clv-12m": (
        "12-month customer value",
        "For customers of the group whose first eligible order (ever) was placed at least 365 "
        "days before the end of the period: the sum of total_minor of their eligible orders "
        "placed within 365 days of that first order, divided by their number, rounded down. An "
        "observed value, not a forecast: no churn or margin model is applied.",
    ),
    "winback-lift": (
        "Win-back lift",
        "Return rate of shoppers sent a win-back offer minus that of the holdout group, with a "
        "95% confidence interval, as computed by the win-back campaign's own results.",
    ),
}


def definition_anchor(definition_id: str) -> str:
    if definition_id not in DEFINITIONS:
        raise KeyError(definition_id)
    return f"docs/analytics.md#{definition_id}"


@dataclass(frozen=True)
class GroupStats:
    customers_with_orders: int
    repeat_customers: int
    orders: int
    revenue_minor: int

    @property
    def aov_minor(self) -> int:
        return self.revenue_minor // self.orders if self.orders else 0

    @property
    def revenue_per_customer_minor(self) -> int:
        return self.revenue_minor // self.customers_with_orders if self.customers_with_orders else 0


@dataclass(frozen=True)
class Flow:
    issued: int
    redeemed: int
    expired: int


@dataclass(frozen=True)
class MonthRow:
    month: str  # YYYY-MM
    start: datetime
    end: datetime
    issued: int
    redeemed: int
    expired: int
    outstanding_points: int
    liability_minor: int


@dataclass(frozen=True)
class Clv:
    customers: int
    value_minor: int  # average, rounded down


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds must be timezone-aware")
    if end <= start:
        raise ValueError("the period must end after it starts")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise ValueError(f"the period may span at most {MAX_PERIOD_DAYS} days")


def _shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise LookupError(f"shop {shop_id} not found")
    return shop


def _eligible(shop: Shop):
    o = OrderSnapshot
    return and_(
        o.shop_id == shop.id,
        o.paid.is_(True),
        o.cancelled.is_(False),
        o.deleted.is_(False),
        o.test.is_(False),
        o.currency == shop.currency,
    )


def _has_posted_before(customer_id_column, shop_id: int, moment: datetime):
    le = LedgerEntry
    return exists(
        select(literal(1)).where(
            le.shop_id == shop_id,
            le.customer_id == customer_id_column,
            le.status == "posted",
            le.resolved_at < moment,
        )
    )


def members_vs_non_members(
    session: Session, shop_id: int, start: datetime, end: datetime
) -> dict[str, GroupStats]:
    """{"members": ..., "non_members": ...}.

    SELECT member, COUNT(*), SUM(n >= 2), SUM(n), SUM(revenue) FROM (
      SELECT o.customer_id, COUNT(*) n, SUM(o.total_minor) revenue,
             EXISTS(posted entry of the customer resolved before :end) member
      FROM orders o WHERE <eligible> AND o.customer_id IS NOT NULL
        AND :start <= o.placed_at < :end GROUP BY o.customer_id) GROUP BY member
    """
    check_period(start, end)
    shop = _shop(session, shop_id)
    o = OrderSnapshot
    per_customer = (
        select(
            o.customer_id.label("customer_id"),
            func.count().label("n"),
            func.sum(o.total_minor).label("revenue"),
        )
        .where(_eligible(shop), o.customer_id.is_not(None), o.placed_at >= start, o.placed_at < end)
        .group_by(o.customer_id)
        .subquery()
    )
    member = case((_has_posted_before(per_customer.c.customer_id, shop_id, end), 1), else_=0)
    flagged = select(
        member.label("member"), per_customer.c.n, per_customer.c.revenue
    ).subquery()
    rows = session.execute(
        select(
            flagged.c.member,
            func.count(),
            func.sum(case((flagged.c.n >= 2, 1), else_=0)),
            func.sum(flagged.c.n),
            func.sum(flagged.c.revenue),
        ).group_by(flagged.c.member)
    ).all()
    found = {int(m): GroupStats(int(c), int(r or 0), int(n or 0), int(v or 0)) for m, c, r, n, v in rows}
    empty = GroupStats(0, 0, 0, 0)
    return {"members": found.get(1, empty), "non_members": found.get(0, empty)}


def guest_orders(session: Session, shop_id: int, start: datetime, end: datetime) -> tuple[int, int]:
    """(orders, revenue_minor) of eligible orders in the period with no customer."""
    check_period(start, end)
    shop = _shop(session, shop_id)
    o = OrderSnapshot
    count, revenue = session.execute(
        select(func.count(), func.coalesce(func.sum(o.total_minor), 0)).where(
            _eligible(shop), o.customer_id.is_(None), o.placed_at >= start, o.placed_at < end
        )
    ).one()
    return int(count), int(revenue)


def member_count(session: Session, shop_id: int, moment: datetime) -> int:
    """SELECT COUNT(DISTINCT customer_id) FROM ledger_entries
    WHERE shop_id = :shop AND status = 'posted' AND resolved_at < :moment"""
    le = LedgerEntry
    return int(
        session.scalar(
            select(func.count(func.distinct(le.customer_id))).where(
                le.shop_id == shop_id, le.status == "posted", le.resolved_at < moment
            )
        )
        or 0
    )


def participation(session: Session, shop_id: int, start: datetime, end: datetime) -> tuple[int, int]:
    """(participants, members): members as of `end` with a posted earn_* or redeem entry
    resolved in [start, end). Such an entry makes its customer a member, so participants
    are always a subset of members."""
    check_period(start, end)
    le = LedgerEntry
    participants = session.scalar(
        select(func.count(func.distinct(le.customer_id))).where(
            le.shop_id == shop_id,
            le.status == "posted",
            le.kind.in_((*EARN_KINDS, "redeem")),
            le.resolved_at >= start,
            le.resolved_at < end,
        )
    )
    return int(participants or 0), member_count(session, shop_id, end)


def points_flow(session: Session, shop_id: int, start: datetime, end: datetime) -> Flow:
    """SELECT SUM(points) FILTER (kind IN earn_*), -SUM(points) FILTER (kind = 'redeem'),
    -SUM(points) FILTER (kind = 'expire') FROM ledger_entries
    WHERE shop_id = :shop AND status = 'posted' AND :start <= resolved_at < :end"""
    le = LedgerEntry

    def total(condition):
        return func.coalesce(func.sum(case((condition, le.points), else_=0)), 0)

    issued, redeemed, expired = session.execute(
        select(
            total(le.kind.in_(EARN_KINDS)),
            total(le.kind == "redeem"),
            total(le.kind == "expire"),
        ).where(
            le.shop_id == shop_id,
            le.status == "posted",
            le.resolved_at >= start,
            le.resolved_at < end,
        )
    ).one()
    return Flow(int(issued), -int(redeemed), -int(expired))


def outstanding_at(session: Session, shop_id: int, moment: datetime) -> int:
    """SELECT SUM(GREATEST(balance, 0)) FROM (SELECT customer_id, SUM(points) balance
    FROM ledger_entries WHERE shop_id = :shop AND status = 'posted' AND resolved_at < :moment
    GROUP BY customer_id)"""
    le = LedgerEntry
    balances = (
        select(func.sum(le.points).label("balance"))
        .where(le.shop_id == shop_id, le.status == "posted", le.resolved_at < moment)
        .group_by(le.customer_id)
        .subquery()
    )
    total = session.scalar(
        select(func.coalesce(func.sum(case((balances.c.balance > 0, balances.c.balance), else_=0)), 0))
    )
    return int(total or 0)


def month_windows(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """Calendar months (UTC) overlapping [start, end), each clipped to the period."""
    check_period(start, end)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    cursor = datetime(start_utc.year, start_utc.month, 1, tzinfo=UTC)
    windows = []
    while cursor < end_utc:
        following = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
        windows.append((cursor.strftime("%Y-%m"), max(cursor, start_utc), min(following, end_utc)))
        cursor = following
    return windows


def monthly(session: Session, shop_id: int, start: datetime, end: datetime) -> list[MonthRow]:
    """Per month: `points_flow` over the month and `outstanding_at` its end, valued at the
    programme's current point_value_minor."""
    from app.loyalty.program import load_program

    value = load_program(_shop(session, shop_id)).point_value_minor
    rows = []
    for label, lo, hi in month_windows(start, end):
        flow = points_flow(session, shop_id, lo, hi)
        outstanding = outstanding_at(session, shop_id, hi)
        rows.append(
            MonthRow(label, lo, hi, flow.issued, flow.redeemed, flow.expired, outstanding, outstanding * value)
        )
    return rows


def _plus_days(session: Session, column, days: int):
    if session.get_bind().dialect.name == "postgresql":
        return column + literal(timedelta(days=days))
    # SQLite keeps UTC datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text.
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{days} days")


def clv_12m(session: Session, shop_id: int, end: datetime) -> dict[str, Clv]:
    """{"members": Clv, "non_members": Clv}: see DEFINITIONS["clv-12m"].

    WITH first AS (SELECT customer_id, MIN(placed_at) first FROM orders WHERE <eligible, ever>
                   GROUP BY customer_id HAVING MIN(placed_at) <= :end - 365 days)
    SELECT member, COUNT(DISTINCT customer_id), SUM(total_minor) FROM first JOIN orders
    WHERE placed_at < first + 365 days GROUP BY member
    """
    shop = _shop(session, shop_id)
    o = OrderSnapshot
    cutoff = end - timedelta(days=CLV_DAYS)
    first = (
        select(o.customer_id.label("customer_id"), func.min(o.placed_at).label("first_at"))
        .where(_eligible(shop), o.customer_id.is_not(None), o.placed_at.is_not(None))
        .group_by(o.customer_id)
        .having(func.min(o.placed_at) <= cutoff)
        .subquery()
    )
    per_customer = (
        select(
            first.c.customer_id,
            func.sum(o.total_minor).label("value"),
        )
        .join(o, o.customer_id == first.c.customer_id)
        .where(_eligible(shop), o.placed_at < _plus_days(session, first.c.first_at, CLV_DAYS))
        .group_by(first.c.customer_id)
        .subquery()
    )
    member = case((_has_posted_before(per_customer.c.customer_id, shop_id, end), 1), else_=0)
    flagged = select(member.label("member"), per_customer.c.value).subquery()
    rows = session.execute(
        select(flagged.c.member, func.count(), func.sum(flagged.c.value)).group_by(flagged.c.member)
    ).all()
    found = {int(m): Clv(int(c), int(v or 0) // int(c) if c else 0) for m, c, v in rows}
    return {"members": found.get(1, Clv(0, 0)), "non_members": found.get(0, Clv(0, 0))}


def current_liability(session: Session, shop_id: int, now: datetime) -> liability.Liability:
    """The liability report of app.loyalty.liability (outstanding points and their value)."""
    return liability.liability_report(session, _shop(session, shop_id), now)
