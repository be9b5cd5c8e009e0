"""Birthday points: once a year, on the local birthday of the shop, Feb 29 on Feb 28 in
other years (app.loyalty.birthdays, app.jobs.birthday_jobs). Real PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from earning_helpers import configure, customer, entries, no_violations
from freezegun import freeze_time
from order_helpers import use_runtime

from app.jobs import birthday_jobs
from app.loyalty.birthdays import occurrence
from app.models import Customer


@pytest.fixture
def runtime_db(pg_db, settings):
    yield from use_runtime(pg_db, settings)


@pytest.fixture
def shop(factory, runtime_db):
    return configure(runtime_db, factory.shop("shopify"), birthday_points=200)


def run_job() -> int:
    """The hourly job (jobs run inline without Redis)."""
    return birthday_jobs.award_birthdays()


def birthday_points(db, shop, who) -> list[int]:
    return [e.points for e in entries(db, shop, "earn_birthday") if e.customer_id == who.id]


def test_occurrence_moves_feb_29_to_feb_28_only_in_common_years():
    assert occurrence(date(1992, 2, 29), 2028) == date(2028, 2, 29)
    assert occurrence(date(1992, 2, 29), 2027) == date(2027, 2, 28)
    assert occurrence(date(1990, 3, 1), 2027) == date(2027, 3, 1)


def test_birthday_today_earns_once_even_when_the_job_runs_twice(factory, runtime_db, shop):
    fan = factory.customer(shop, birthday=date(1990, 6, 15))
    other = factory.customer(shop, birthday=date(1990, 6, 20))
    with freeze_time("2027-06-15T12:00:00Z"):
        run_job()
        run_job()
    assert birthday_points(runtime_db, shop, fan) == [200]
    assert birthday_points(runtime_db, shop, other) == []
    assert customer(runtime_db, fan.id).points_balance == 200
    assert no_violations(runtime_db, shop)


def test_leap_day_birthday_in_a_leap_year_waits_for_feb_29(factory, runtime_db, shop):
    leapling = factory.customer(shop, birthday=date(1992, 2, 29))
    with freeze_time("2028-02-28T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, leapling) == []
    with freeze_time("2028-02-29T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, leapling) == [200]
    with freeze_time("2028-03-01T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, leapling) == [200]


def test_leap_day_birthday_in_a_common_year_is_celebrated_on_feb_28(factory, runtime_db, shop):
    leapling = factory.customer(shop, birthday=date(1992, 2, 29))
    with freeze_time("2027-02-27T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, leapling) == []
    with freeze_time("2027-02-28T12:00:00Z"):
        run_job()
    with freeze_time("2027-03-01T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, leapling) == [200]
    keys = [e.idempotency_key for e in entries(runtime_db, shop, "earn_birthday")]
    assert keys == [f"birthday:{leapling.id}:2027"]


def test_year_end_birthday_missed_on_the_day_counts_for_the_old_year(factory, runtime_db, shop):
    """Dec 31 is caught up on Jan 1 as last year's bonus; this year's still comes."""
    nye = factory.customer(shop, birthday=date(1985, 12, 31))
    with freeze_time("2027-01-01T10:00:00Z"):
        run_job()
    keys = [e.idempotency_key for e in entries(runtime_db, shop, "earn_birthday")]
    assert keys == [f"birthday:{nye.id}:2026"]
    with freeze_time("2027-12-31T10:00:00Z"):
        run_job()
    keys = [e.idempotency_key for e in entries(runtime_db, shop, "earn_birthday")]
    assert keys == [f"birthday:{nye.id}:2026", f"birthday:{nye.id}:2027"]


def test_shop_time_zone_decides_the_day(factory, runtime_db):
    auckland = configure(runtime_db, factory.shop("shopify"), timezone="Pacific/Auckland", birthday_points=50)
    utc_shop = configure(runtime_db, factory.shop("shopify"), birthday_points=50)
    kiwi = factory.customer(auckland, birthday=date(1990, 3, 10))
    londoner = factory.customer(utc_shop, birthday=date(1990, 3, 10))
    # 12:30 UTC on March 9 is already 01:30 on March 10 in Auckland (NZDT, +13).
    with freeze_time("2027-03-09T12:30:00Z"):
        run_job()
    assert birthday_points(runtime_db, auckland, kiwi) == [50]
    assert birthday_points(runtime_db, utc_shop, londoner) == []
    with freeze_time("2027-03-10T00:30:00Z"):
        run_job()
    assert birthday_points(runtime_db, utc_shop, londoner) == [50]


def test_changing_the_birthday_gives_no_second_bonus_that_year(factory, runtime_db, shop):
    fan = factory.customer(shop, birthday=date(1990, 4, 2))
    with freeze_time("2027-04-02T12:00:00Z"):
        run_job()
    with runtime_db.transaction() as s:
        s.get(Customer, fan.id).birthday = date(1990, 9, 1)
    with freeze_time("2027-09-01T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, fan) == [200]
    with freeze_time("2028-09-01T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, shop, fan) == [200, 200]


def test_birthday_points_off_and_redacted_customers_get_nothing(factory, runtime_db):
    off = configure(runtime_db, factory.shop("shopify"), birthday_points=0)
    on = configure(runtime_db, factory.shop("shopify"), birthday_points=10)
    a = factory.customer(off, birthday=date(1990, 5, 5))
    from app.models.base import utcnow

    b = factory.customer(on, birthday=date(1990, 5, 5), redacted_at=utcnow())
    with freeze_time("2027-05-05T12:00:00Z"):
        run_job()
    assert birthday_points(runtime_db, off, a) == []
    assert birthday_points(runtime_db, on, b) == []
