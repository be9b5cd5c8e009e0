"""Birthday points: once a year, on the shopper's birthday in the shop's time zone.

Rules (docs/earning-beyond-orders.md):
- The day is the shop's local date (`Shop.timezone`), not UTC: a shop in Auckland gives
  the points on the local birthday even while it is still the day before in UTC.
- Feb 29 birthdays are celebrated on Feb 28 in years that have no Feb 29.
- Once per calendar year of the birthday: the ledger key `birthday:{customer_id}:{year}`
  is unique, so changing the birthday (to a day still ahead, or back again) never gives
  a second bonus in the same year, and a job run twice gives nothing twice.
- A missed day is caught up: the job also looks `CATCH_UP_DAYS - 1` days back (same
  year of occurrence), so a worker outage of a day costs nobody their bonus.
- Redacted customers and shops that are not installed get nothing.

`due_customer_ids` is one set-based query per shop and day window (indexed by shop);
`award_birthday` re-checks everything under the customer's row lock and posts.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, and_, cast, exists, extract, or_, select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.program import load_program
from app.models import Customer, LedgerEntry, Shop

CATCH_UP_DAYS = 3


def shop_today(shop: Shop, now: datetime) -> date:
    """The shop's local date at `now`."""
    try:
        zone = ZoneInfo(shop.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def occurrence(birthday: date, year: int) -> date:
    """The day the birthday is celebrated in `year` (Feb 29 → Feb 28 in other years)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, birthday.month, birthday.day)


def idempotency_key(customer_id: int, year: int) -> str:
    return f"birthday:{customer_id}:{year}"


def due_occurrence(birthday: date | None, today: date) -> date | None:
    """The occurrence of `birthday` inside the catch-up window ending `today`, if any."""
    if birthday is None:
        return None
    for back in range(CATCH_UP_DAYS):
        day = today - timedelta(days=back)
        if occurrence(birthday, day.year) == day:
            return day
    return None


def due_customer_ids(
    session: Session, shop: Shop, now: datetime, *, after_id: int = 0, limit: int = 1000
) -> list[int]:
    """Ids of the shop's customers whose birthday falls in the window ending today (shop
    time) and who have not had this year's bonus, in id order, `limit` at a time."""
    today = shop_today(shop, now)
    conditions = []
    for back in range(CATCH_UP_DAYS):
        day = today - timedelta(days=back)
        days = [day.day]
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            days.append(29)
        key = "birthday:" + cast(Customer.id, String) + f":{day.year}"
        conditions.append(and_(
            extract("month", Customer.birthday) == day.month,
            extract("day", Customer.birthday).in_(days),
            ~exists().where(LedgerEntry.shop_id == shop.id, LedgerEntry.idempotency_key == key),
        ))
    rows = session.scalars(
        select(Customer.id)
        .where(
            Customer.shop_id == shop.id,
            Customer.id > after_id,
            Customer.birthday.is_not(None),
            Customer.redacted_at.is_(None),
            or_(*conditions),
        )
        .order_by(Customer.id)
        .limit(limit)
    )
    return list(rows)


def award_birthday(session: Session, shop: Shop, customer_id: int, now: datetime) -> LedgerEntry | None:
    """Post this year's birthday points if they are due; None when not due (or off).
    Safe to repeat: the key makes a second posting a replay."""
    points = load_program(shop).birthday_points
    if points <= 0 or not shop.is_installed:
        return None
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.shop_id == shop.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None or customer.redacted_at is not None:
        return None
    day = due_occurrence(customer.birthday, shop_today(shop, now))
    if day is None:
        return None
    key = idempotency_key(customer.id, day.year)
    if ledger.find_by_key(session, shop.id, key) is not None:
        return None
    return ledger.post(
        session, shop_id=shop.id, customer_id=customer.id, points=points, kind="earn_birthday",
        idempotency_key=key, reason=f"birthday {day.year}", now=now,
    )
