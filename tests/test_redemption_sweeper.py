"""The sweeper finishes what a crash or an outage left pending (real PostgreSQL, fake
Shopify): the code is issued once, or after the give-up point the points come back — but
never while the code turns out to exist."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from redemption_helpers import balance, entries, make_reward, redemption, violations
from redemption_platforms import shopify_store
from sqlalchemy import text

from app.jobs.redemption_jobs import complete_stale_redemptions
from app.loyalty import redemptions
from app.models import Shop
from app.redemption_saga import GIVE_UP_AFTER, MAX_ATTEMPTS, complete_pending

STARTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SOON = STARTED + timedelta(minutes=5)


@pytest.fixture
def store(factory, settings, pg_db):
    store = shopify_store(factory, settings, pg_db)
    yield store
    store.admin.__exit__(None, None, None)


@pytest.fixture
def shopper(factory, store):
    customer = factory.customer(store.shop, platform_id="7001")
    factory.points(store.shop, customer, 1000)
    return customer


def crashed_redemption(pg_db, store, shopper, reward, key="k", now=STARTED):
    """The request committed the debit and the pending row, then the process died before
    it reached the platform."""
    with pg_db.transaction() as s:
        return redemptions.start_redemption(s, s.get(Shop, store.shop.id), shopper.id, reward.id, key, now=now)


def sweep(store, now):
    return complete_stale_redemptions(60, now=now, client_factory=store.client_factory(timeout=0.5))


def create_calls(admin) -> int:
    return sum(1 for r in admin.requests if "Create(" in r["query"])


def test_a_crash_before_the_platform_call_is_completed_by_the_sweeper(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))
    assert store.admin.codes() == []

    counts = sweep(store, SOON)

    assert counts["issued"] == 1
    done = redemption(pg_db, red.id)
    assert done.status == "issued" and store.admin.codes() == [red.code]
    assert balance(pg_db, shopper) == 900
    assert sweep(store, SOON + timedelta(minutes=5)) == {"issued": 0, "failed": 0, "pending": 0}
    assert create_calls(store.admin) == 1


def test_a_fresh_redemption_is_left_to_its_own_request(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))

    sweep(store, STARTED + timedelta(seconds=30))

    assert redemption(pg_db, red.id).status == "pending" and store.admin.requests == []


def test_code_creation_that_keeps_failing_is_compensated_after_the_give_up_age(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop, points_cost=400))
    store.admin.fail_next(times=10_000, status=503)

    sweep(store, SOON)
    sweep(store, SOON + timedelta(minutes=5))

    still = redemption(pg_db, red.id)
    assert still.status == "pending" and still.attempts == 2 and "503" in still.last_error
    assert balance(pg_db, shopper) == 600

    counts = sweep(store, STARTED + GIVE_UP_AFTER)

    assert counts["failed"] == 1
    failed = redemption(pg_db, red.id)
    assert failed.status == "failed" and failed.refund_entry_id is not None
    assert balance(pg_db, shopper) == 1000
    assert violations(pg_db, store.shop) == []
    # Sweeping again changes nothing.
    before = len(entries(pg_db, store.shop))
    sweep(store, STARTED + 2 * GIVE_UP_AFTER)
    assert len(entries(pg_db, store.shop)) == before and balance(pg_db, shopper) == 1000


def test_the_last_attempt_counts_too_after_too_many_attempts(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))
    store.admin.fail_next(times=10_000, status=502)

    for minute in range(1, MAX_ATTEMPTS + 1):
        sweep(store, STARTED + timedelta(minutes=minute))

    assert redemption(pg_db, red.id).status == "failed"
    assert balance(pg_db, shopper) == 1000


def test_giving_up_never_refunds_a_code_that_exists(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))
    # An earlier attempt created the code but its answer was lost.
    store.admin.slow_next(times=50, seconds=1.0, create=True)
    sweep(store, SOON)
    assert redemption(pg_db, red.id).status == "pending" and store.admin.codes() == [red.code]
    store.admin._slow.clear()

    sweep(store, STARTED + GIVE_UP_AFTER)

    assert redemption(pg_db, red.id).status == "issued"
    assert balance(pg_db, shopper) == 900


def test_a_refused_code_is_compensated_at_once(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))
    store.admin.reject_next()

    assert sweep(store, SOON)["failed"] == 1

    assert redemption(pg_db, red.id).status == "failed" and balance(pg_db, shopper) == 1000


def test_a_redemption_someone_else_is_working_on_is_skipped(pg_db, store, shopper):
    red = crashed_redemption(pg_db, store, shopper, make_reward(pg_db, store.shop))
    with pg_db.engine.connect() as other_worker:
        other_worker.execute(text("SELECT pg_advisory_lock(:ns, :id)"), {"ns": 0x4C4C5244, "id": red.id})

        result = complete_pending(pg_db, store.settings, red.id,
                                  client_factory=store.client_factory(), give_up=True)

        assert result.status == "pending" and store.admin.requests == []
        other_worker.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": 0x4C4C5244, "id": red.id})
        other_worker.commit()
    assert redemption(pg_db, red.id).attempts == 0


def test_two_sweepers_at_once_create_each_code_once(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop, points_cost=50)
    pending = [crashed_redemption(pg_db, store, shopper, reward, key=f"k{i}") for i in range(8)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            sweep(store, SOON)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(store.admin.codes()) == sorted(r.code for r in pending)
    assert create_calls(store.admin) == len(pending)
    assert {redemption(pg_db, r.id).status for r in pending} == {"issued"}
    assert balance(pg_db, shopper) == 1000 - 8 * 50
    assert violations(pg_db, store.shop) == []
