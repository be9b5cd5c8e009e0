"""Points liability: what the shop owes its shoppers in points, and when it lapses.

Outstanding points are split into lots the same way expiry sees them (oldest spent first,
see `app.loyalty.expiry`), computed set-based: a lot's remainder is its share of the
customer's credits left after all debits are taken from the oldest credits, i.e.
clamp(credits up to and including the lot - all debits, 0, lot points). The database
returns one row per local earn day (PostgreSQL) or per lot (SQLite, the single-machine
setup); ages and expiry months are then counted here in Python from those few rows.
Money is points x `point_value_minor`, integers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.loyalty.expiry import add_months, shop_timezone
from app.loyalty.program import load_program
from app.models import Shop

# (label, first day, last day or None) of each age bucket, by days since the lot was earned.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30 days", 0, 30),
    ("31-90 days", 31, 90),
    ("91-180 days", 91, 180),
    ("181-365 days", 181, 365),
    ("over 365 days", 366, None),
)
NEVER = "never"

OUTSTANDING_QUERY = (
    "SUM(points_balance) over this shop's customers with a positive balance "
    "(posted points only; a balance equals the sum of its posted ledger entries)"
)
PENDING_QUERY = "SUM(pending_points) over this shop's customers (held points, not yet spendable)"
OWED_QUERY = (
    "SUM(-points_balance) over this shop's customers with a negative balance "
    "(points reversed after a refund that later earnings repay)"
)
BY_AGE_QUERY = (
    "Per posted credit (lot) of this shop: remainder = clamp(running sum of the customer's "
    "credits in seq order up to the lot - the customer's posted debits, 0, lot points); "
    "summed by days between the lot's posting date and today, both in the shop's time zone"
)
BY_EXPIRY_QUERY = (
    "The same lot remainders, summed by the month of their expiry date (posting date in the "
    "shop's time zone + points_expire_months, month end clamped); 'never' when points do not expire"
)

_LOTS_CTE = """
WITH posted AS (
    SELECT customer_id, seq, points, resolved_at FROM ledger_entries
    WHERE shop_id = :shop_id AND status = 'posted'
), spent AS (
    SELECT customer_id, SUM(-points) AS total FROM posted WHERE points < 0 GROUP BY customer_id
), lots AS (
    SELECT p.customer_id, p.points, p.resolved_at,
           SUM(p.points) OVER (PARTITION BY p.customer_id ORDER BY p.seq
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS credited
    FROM posted p WHERE p.points > 0
), remainders AS (
    SELECT l.resolved_at,
           CASE WHEN l.credited - COALESCE(s.total, 0) <= 0 THEN 0
                WHEN l.credited - COALESCE(s.total, 0) >= l.points THEN l.points
                ELSE l.credited - COALESCE(s.total, 0) END AS remaining
    FROM lots l LEFT JOIN spent s ON s.customer_id = l.customer_id
)
"""
_BY_LOCAL_DAY = {
    "postgresql": _LOTS_CTE
    + """
SELECT CAST(timezone(:tz, resolved_at) AS DATE) AS earned_on, SUM(remaining) AS points
FROM remainders GROUP BY 1 HAVING SUM(remaining) > 0""",
    # SQLite cannot convert time zones: one row per lot, converted below.
    "sqlite": _LOTS_CTE + "SELECT resolved_at, remaining FROM remainders WHERE remaining > 0",
}


@dataclass(frozen=True)
class Bucket:
    label: str
    points: int
    value_minor: int


@dataclass(frozen=True)
class Liability:
    as_of: datetime
    currency: str
    timezone: str
    point_value_minor: int
    points_expire_months: int | None
    outstanding_points: int
    pending_points: int
    owed_points: int
    by_age: list[Bucket]
    by_expiry_month: list[Bucket]


def lot_points_by_day(session: Session, shop: Shop) -> dict[date, int]:
    """Remaining points of this shop's lots, by the local day they were earned."""
    tz = shop_timezone(shop)
    dialect = session.get_bind().dialect.name
    sql = _BY_LOCAL_DAY["postgresql" if dialect == "postgresql" else "sqlite"]
    rows = session.execute(text(sql), {"shop_id": shop.id, "tz": tz.key}).all()
    days: dict[date, int] = {}
    for earned, points in rows:
        if isinstance(earned, str):
            earned = datetime.fromisoformat(earned)
        if isinstance(earned, datetime):
            earned = (earned if earned.tzinfo else earned.replace(tzinfo=UTC)).astimezone(tz).date()
        days[earned] = days.get(earned, 0) + int(points)
    return days


def liability_report(session: Session, shop: Shop, now: datetime) -> Liability:
    settings = load_program(shop)
    value = settings.point_value_minor
    months = settings.points_expire_months
    today = now.astimezone(shop_timezone(shop)).date()
    totals = session.execute(
        text("""SELECT COALESCE(SUM(CASE WHEN points_balance > 0 THEN points_balance ELSE 0 END), 0),
                       COALESCE(SUM(pending_points), 0),
                       COALESCE(SUM(CASE WHEN points_balance < 0 THEN -points_balance ELSE 0 END), 0)
                FROM customers WHERE shop_id = :shop_id"""),
        {"shop_id": shop.id},
    ).one()
    by_day = lot_points_by_day(session, shop)

    ages = {label: 0 for label, _, _ in AGE_BUCKETS}
    months_found: dict[str, int] = {}
    for earned_on, points in by_day.items():
        age = max((today - earned_on).days, 0)
        label = next(
            lbl for lbl, low, high in AGE_BUCKETS if age >= low and (high is None or age <= high)
        )
        ages[label] += points
        month = NEVER if months is None else add_months(earned_on, months).strftime("%Y-%m")
        months_found[month] = months_found.get(month, 0) + points
    return Liability(
        as_of=now,
        currency=shop.currency,
        timezone=shop_timezone(shop).key,
        point_value_minor=value,
        points_expire_months=months,
        outstanding_points=int(totals[0]),
        pending_points=int(totals[1]),
        owed_points=int(totals[2]),
        by_age=[Bucket(label, points, points * value) for label, points in ages.items()],
        by_expiry_month=[Bucket(m, p, p * value) for m, p in sorted(months_found.items())],
    )
