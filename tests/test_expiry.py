"""Points expiry on PostgreSQL: the nightly job, reminders, time zones, the liability report.

Time is moved by passing `now` to the ledger and to the job, as the cron run would.
After every scenario the ledger invariants (`find_violations`) must hold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from order_helpers import use_runtime
from sqlalchemy import select, update

from app.jobs import expiry_jobs
from app.loyalty import checks, expiry, ledger
from app.models import Customer, LedgerEntry, Shop
from app.models.mail import MailMessage

API = "/admin/api/v1"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def runtime_db(pg_db, settings, monkeypatch):
    """Job functions use the test database; mail is queued but its sending (tested with
    the mail machinery) is only recorded, except where a test asks for `real_sending`."""
    import app.jobs.mail_jobs as mail_jobs

    monkeypatch.setattr(mail_jobs, "send_mail", lambda message_id, **kw: SENT.append(message_id))
    SENT.clear()
    yield from use_runtime(pg_db, settings)


SENT: list[int] = []


def make_shop(factory, db, *, months=6, tz="UTC", reminders=(30, 7), **program):
    shop = factory.shop(
        program={"points_expire_months": months, "expiry_reminder_days": list(reminders), **program}
    )
    with db.transaction() as s:
        s.execute(update(Shop).where(Shop.id == shop.id).values(timezone=tz))
    return shop


def post(db, shop, customer, points, kind, now, **kw):
    with db.transaction() as s:
        return ledger.post(
            s,
            shop_id=shop.id,
            customer_id=customer.id,
            points=points,
            kind=kind,
            idempotency_key=kw.pop("key", f"t:{customer.id}:{kind}:{points}:{now.isoformat()}"),
            now=now,
            **kw,
        )


def balance(db, customer) -> int:
    with db.session() as s:
        return s.scalar(select(Customer.points_balance).where(Customer.id == customer.id))


def expire_entries(db, customer) -> list[tuple[int, str, int]]:
    with db.session() as s:
        rows = s.execute(
            select(LedgerEntry.points, LedgerEntry.idempotency_key, LedgerEntry.reverses_entry_id)
            .where(LedgerEntry.customer_id == customer.id, LedgerEntry.kind == "expire")
            .order_by(LedgerEntry.id)
        ).all()
    return [tuple(r) for r in rows]


def run(now):
    """The job as an operator runs it by hand: every shop, whatever its local hour."""
    return expiry_jobs.run_expiry(now=now, local_hour=None)


def mails(db, customer) -> list[MailMessage]:
    with db.session() as s:
        return list(
            s.scalars(
                select(MailMessage)
                .where(MailMessage.customer_id == customer.id)
                .order_by(MailMessage.id)
            )
        )


def no_violations(db):
    with db.session() as s:
        assert checks.find_violations(s) == []


def test_points_expire_on_the_local_expiry_date_with_month_end_clamped(factory, runtime_db):
    """Earned 31 January 22:00 in New York (1 February in UTC): with one month they expire
    at 00:00 New York time on 28 February — not on 1 March as a UTC shop would have it."""
    shop = make_shop(factory, runtime_db, months=1, tz="America/New_York")
    utc_shop = make_shop(factory, runtime_db, months=1, tz="UTC")
    shopper, utc_shopper = factory.customer(shop), factory.customer(utc_shop)
    earned_at = at(2026, 2, 1, 3, 0)
    lot = post(runtime_db, shop, shopper, 120, "earn_order", earned_at)
    post(runtime_db, utc_shop, utc_shopper, 120, "earn_order", earned_at)

    run(now=at(2026, 2, 28, 4, 59))
    assert balance(runtime_db, shopper) == 120

    run(now=at(2026, 2, 28, 5, 0))
    assert balance(runtime_db, shopper) == 0
    assert expire_entries(runtime_db, shopper) == [(-120, f"expire:{lot.id}", lot.id)]
    assert balance(runtime_db, utc_shopper) == 120  # its expiry is 1 March 00:00 UTC

    run(now=at(2026, 3, 1, 0, 0))
    assert balance(runtime_db, utc_shopper) == 0
    no_violations(runtime_db)


def test_spending_uses_the_oldest_points_so_only_the_rest_expires(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=6)
    shopper = factory.customer(shop)
    first = post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 1, 12))
    second = post(runtime_db, shop, shopper, 50, "earn_order", at(2026, 2, 1, 12))
    post(runtime_db, shop, shopper, -120, "redeem", at(2026, 3, 1, 12))

    run(now=at(2026, 7, 2))  # the first lot's end: it was spent
    assert balance(runtime_db, shopper) == 30
    assert expire_entries(runtime_db, shopper) == []

    run(now=at(2026, 8, 1))
    assert balance(runtime_db, shopper) == 0
    assert expire_entries(runtime_db, shopper) == [(-30, f"expire:{second.id}", second.id)]
    assert first.id != second.id
    no_violations(runtime_db)


def test_running_the_job_twice_expires_once(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=3)
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 80, "earn_order", at(2026, 1, 5))
    post(runtime_db, shop, shopper, 20, "earn_action", at(2026, 4, 1))
    now = at(2026, 4, 6)
    run(now=now)
    run(now=now)
    run(now=now + timedelta(hours=1))
    assert balance(runtime_db, shopper) == 20
    assert [points for points, _, _ in expire_entries(runtime_db, shopper)] == [-80]
    with runtime_db.transaction() as s:  # the domain call on its own, too
        assert expiry.expire_customer(s, s.get(Shop, shop.id), shopper.id, now) == []
    no_violations(runtime_db)


def test_a_positive_adjustment_after_expiry_is_a_new_lot_and_nothing_comes_back(
    factory, runtime_db
):
    shop = make_shop(factory, runtime_db, months=2)
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 10))
    run(now=at(2026, 3, 10))
    assert balance(runtime_db, shopper) == 0

    goodwill = post(runtime_db, shop, shopper, 40, "adjust", at(2026, 3, 12))
    run(now=at(2026, 3, 13))
    assert balance(runtime_db, shopper) == 40  # no second expiry of the old lot, no revival
    assert len(expire_entries(runtime_db, shopper)) == 1

    run(now=at(2026, 5, 12))
    assert balance(runtime_db, shopper) == 0
    assert expire_entries(runtime_db, shopper)[-1] == (-40, f"expire:{goodwill.id}", goodwill.id)
    no_violations(runtime_db)


def test_points_that_repaid_a_refund_debt_do_not_expire(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=1)
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 1))
    post(runtime_db, shop, shopper, -100, "redeem", at(2026, 1, 2))
    post(runtime_db, shop, shopper, -60, "reversal", at(2026, 1, 3))
    post(runtime_db, shop, shopper, 150, "earn_order", at(2026, 1, 4))
    run(now=at(2026, 3, 1))
    assert [points for points, _, _ in expire_entries(runtime_db, shopper)] == [-90]
    assert balance(runtime_db, shopper) == 0
    no_violations(runtime_db)


def test_pending_points_are_not_a_lot_until_posted(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=1)
    shopper = factory.customer(shop)
    held = post(runtime_db, shop, shopper, 70, "earn_order", at(2026, 1, 1), pending=True)
    with runtime_db.transaction() as s:
        ledger.post_pending(s, shop_id=shop.id, entry_id=held.id, now=at(2026, 1, 20))
    run(now=at(2026, 2, 10))
    assert balance(runtime_db, shopper) == 70  # dated 20 January, when it became spendable
    run(now=at(2026, 2, 20))
    assert balance(runtime_db, shopper) == 0
    no_violations(runtime_db)


def test_shops_without_expiry_keep_every_point(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=None)
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 100, "earn_order", at(2020, 1, 1))
    result = run(now=at(2026, 1, 1))
    assert balance(runtime_db, shopper) == 100
    assert result["customers"] == 0


def test_candidates_are_only_customers_with_old_points_left(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=6, reminders=())
    other_shop = make_shop(factory, runtime_db, months=6, reminders=())
    old_left, old_spent, recent, emptied, elsewhere = (factory.customer(shop) for _ in range(5))
    post(runtime_db, shop, old_left, 100, "earn_order", at(2025, 1, 1))
    post(runtime_db, shop, old_spent, 100, "earn_order", at(2025, 1, 1))
    post(runtime_db, shop, old_spent, -100, "redeem", at(2025, 2, 1))
    post(runtime_db, shop, old_spent, 30, "earn_order", at(2026, 1, 20))
    post(runtime_db, shop, recent, 100, "earn_order", at(2026, 1, 20))
    post(runtime_db, shop, emptied, 100, "earn_order", at(2025, 1, 1))
    post(runtime_db, shop, emptied, -100, "reversal", at(2025, 1, 2))
    other = factory.customer(other_shop)
    post(runtime_db, other_shop, other, 100, "earn_order", at(2025, 1, 1))
    with runtime_db.session() as s:
        ids = expiry.candidate_customer_ids(s, s.get(Shop, shop.id), at(2026, 2, 1))
    assert ids == [old_left.id]
    assert elsewhere.id not in ids


def test_the_hourly_cron_handles_each_shop_just_after_its_local_midnight(factory, runtime_db):
    tokyo = make_shop(factory, runtime_db, months=1, tz="Asia/Tokyo", reminders=())
    new_york = make_shop(factory, runtime_db, months=1, tz="America/New_York", reminders=())
    in_tokyo, in_new_york = factory.customer(tokyo), factory.customer(new_york)
    post(runtime_db, tokyo, in_tokyo, 10, "earn_order", at(2026, 1, 1, 12))
    post(runtime_db, new_york, in_new_york, 10, "earn_order", at(2026, 1, 1, 12))
    expiry_jobs.run_expiry(now=at(2026, 3, 1, 15, 20))  # 00:20 in Tokyo, 10:20 in New York
    assert (balance(runtime_db, in_tokyo), balance(runtime_db, in_new_york)) == (0, 10)
    expiry_jobs.run_expiry(now=at(2026, 3, 2, 5, 20))  # 00:20 in New York
    assert balance(runtime_db, in_new_york) == 0


def test_candidates_fan_out_in_chunks(factory, runtime_db, monkeypatch):
    monkeypatch.setattr(expiry_jobs, "CHUNK", 2)
    shop = make_shop(factory, runtime_db, months=1, reminders=())
    shoppers = [factory.customer(shop) for _ in range(5)]
    for n, shopper in enumerate(shoppers):
        post(runtime_db, shop, shopper, 10 + n, "earn_order", at(2026, 1, 1))
    result = run(now=at(2026, 3, 1))
    assert (result["customers"], result["chunks"]) == (5, 3)
    assert [balance(runtime_db, s) for s in shoppers] == [0] * 5
    no_violations(runtime_db)


def test_reminders_go_once_per_lot_and_reminder_day(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=2, reminders=(30, 7))
    shopper = factory.customer(shop, locale="en")
    morning = post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 10, 9))
    post(runtime_db, shop, shopper, 25, "earn_order", at(2026, 1, 10, 18))  # same expiry day
    later = post(runtime_db, shop, shopper, 5, "earn_order", at(2026, 1, 20, 9))

    run(now=at(2026, 2, 7, 12))
    assert mails(runtime_db, shopper) == []
    for hour in (1, 13):  # twice on the day the 30-day reminder is due
        run(now=at(2026, 2, 8, hour))
    sent = mails(runtime_db, shopper)
    assert [(m.kind, m.event_key) for m in sent] == [
        ("points_expiring", f"expiring:{morning.id}:30")
    ]
    assert (sent[0].context["points"], sent[0].context["expires_on"]) == (125, "2026-03-10")
    assert SENT == [sent[0].id]  # handed to the mail queue once

    run(now=at(2026, 3, 3, 1))
    run(now=at(2026, 3, 3, 23))
    assert [m.event_key for m in mails(runtime_db, shopper)] == [
        f"expiring:{morning.id}:30",
        f"expiring:{morning.id}:7",
        f"expiring:{later.id}:30",
    ]

    run(now=at(2026, 3, 10, 0))
    assert balance(runtime_db, shopper) == 5
    assert len(mails(runtime_db, shopper)) == 3  # expired points get no reminder
    no_violations(runtime_db)


@pytest.fixture
def real_sending(pg_db, settings):
    yield from use_runtime(pg_db, settings)


def test_a_reminder_renders_in_the_shoppers_language(factory, pg_db, real_sending):
    """The real send path (no SMTP_URL: logged, not delivered) renders the merge fields."""
    shop = make_shop(factory, pg_db, months=2, reminders=(30,))
    shopper = factory.customer(shop, locale="nl")
    post(pg_db, shop, shopper, 1250, "earn_order", at(2026, 1, 10))
    run(now=at(2026, 2, 8))
    (message,) = mails(pg_db, shopper)
    # Without SMTP_URL the rendered message is logged, not delivered.
    assert (message.locale, message.status, message.last_error) == (
        "nl",
        "suppressed",
        "no SMTP_URL configured; message logged only",
    )
    assert "1.250" in (message.subject or "")


def test_no_reminder_for_points_already_spent(factory, runtime_db):
    shop = make_shop(factory, runtime_db, months=2, reminders=(30,))
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 10))
    post(runtime_db, shop, shopper, 10, "earn_order", at(2026, 2, 5))
    post(runtime_db, shop, shopper, -100, "redeem", at(2026, 2, 6))
    run(now=at(2026, 2, 8))
    assert mails(runtime_db, shopper) == []


def test_reminders_respect_the_shops_mail_switch(factory, runtime_db):
    shop = make_shop(
        factory, runtime_db, months=2, reminders=(30,), lifecycle_mail={"points_expiring": False}
    )
    shopper = factory.customer(shop)
    post(runtime_db, shop, shopper, 100, "earn_order", at(2026, 1, 10))
    result = run(now=at(2026, 2, 8))
    assert result["customers"] == 1 and mails(runtime_db, shopper) == []


# -- liability report --------------------------------------------------------------------


def test_liability_report_by_age_and_expiry_month(client, factory, pg_db):
    shop = make_shop(factory, pg_db, months=12, tz="America/New_York", point_value_minor=2)
    _, token = factory.staff(shop, "viewer")
    now = datetime.now(UTC)
    a, b, c = factory.customer(shop), factory.customer(shop), factory.customer(shop)
    post(pg_db, shop, a, 100, "earn_order", now - timedelta(days=400))
    post(pg_db, shop, a, 50, "earn_order", now - timedelta(days=100))
    post(
        pg_db, shop, a, -120, "redeem", now - timedelta(days=50)
    )  # the 400-day lot and 20 of the next
    post(pg_db, shop, b, 70, "earn_order", now - timedelta(days=10))
    post(pg_db, shop, b, 20, "earn_order", now - timedelta(days=5), pending=True)
    post(pg_db, shop, c, 10, "earn_order", now - timedelta(days=3))
    post(pg_db, shop, c, -25, "reversal", now - timedelta(days=2))
    other = make_shop(factory, pg_db, months=12)
    post(pg_db, other, factory.customer(other), 9999, "earn_order", now - timedelta(days=10))

    response = client.get(f"{API}/reports/liability", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    report = response.get_json()
    assert report["outstanding"]["points"] == 100 and report["outstanding"]["value_minor"] == 200
    assert report["pending"]["points"] == 20
    assert report["owed_by_shoppers"]["points"] == 15
    ages = {b["label"]: b["points"] for b in report["by_age"]["buckets"]}
    assert ages == {
        "0-30 days": 70,
        "31-90 days": 0,
        "91-180 days": 30,
        "181-365 days": 0,
        "over 365 days": 0,
    }
    assert sum(b["points"] for b in report["by_expiry_month"]["buckets"]) == 100
    tz = expiry.shop_timezone(Shop(timezone="America/New_York"))
    expected_months = {}
    for days, points in ((100, 30), (10, 70)):
        month = expiry.expiry_date(now - timedelta(days=days), 12, tz).strftime("%Y-%m")
        expected_months[month] = expected_months.get(month, 0) + points
    assert {
        b["label"]: b["points"] for b in report["by_expiry_month"]["buckets"]
    } == expected_months
    assert all(b["value_minor"] == 2 * b["points"] for b in report["by_expiry_month"]["buckets"])
    for figure in ("outstanding", "pending", "owed_by_shoppers", "by_age", "by_expiry_month"):
        assert report[figure]["query"]


def test_liability_report_without_expiry_and_without_token(client, factory, pg_db):
    shop = make_shop(factory, pg_db, months=None)
    post(
        pg_db, shop, factory.customer(shop), 40, "earn_order", datetime.now(UTC) - timedelta(days=1)
    )
    assert client.get(f"{API}/reports/liability").status_code == 401
    _, token = factory.staff(shop, "viewer")
    report = client.get(
        f"{API}/reports/liability", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert report["by_expiry_month"]["buckets"] == [
        {"label": "never", "points": 40, "value_minor": 40}
    ]
