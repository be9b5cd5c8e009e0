"""Many simultaneous redemptions by one shopper on real PostgreSQL and the fake Shopify
store: the balance decides, never a race. Exactly as many codes exist as were paid for."""

from __future__ import annotations

import threading

import pytest
from redemption_helpers import balance, entries, make_reward, redemptions_of, violations
from redemption_platforms import shopify_store, woocommerce_store

from app.loyalty.errors import InsufficientPoints
from app.redemption_saga import redeem


@pytest.fixture(params=["shopify", "woocommerce"])
def store(request, factory, settings, pg_db):
    if request.param == "shopify":
        store = shopify_store(factory, settings, pg_db)
        fake = store.admin
    else:
        store = woocommerce_store(factory, settings, pg_db)
        fake = store.store
    store.codes = lambda: sorted(code.upper() for code in fake.codes())
    yield store
    fake.__exit__(None, None, None)


def run_together(n, work):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_twenty_simultaneous_redemptions_with_points_for_three(pg_db, factory, store):
    shopper = factory.customer(store.shop, platform_id="7001", email="jane@example.test")
    factory.points(store.shop, shopper, 350)  # covers three rewards of 100, not four
    reward = make_reward(pg_db, store.shop, points_cost=100)
    entries_before = len(entries(pg_db, store.shop))

    results = run_together(20, lambda i: redeem(
        pg_db, store.settings, store.shop.id, shopper.id, reward.id, f"request-{i}",
        client_factory=store.client_factory()))

    issued = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(issued) == 3 and len(refused) == 17, results
    assert sorted(store.codes()) == sorted(r.code for r in issued)
    assert [r.status for r in redemptions_of(pg_db, store.shop)] == ["issued"] * 3
    assert len(entries(pg_db, store.shop)) == entries_before + 3  # three debits, nothing else
    assert balance(pg_db, shopper) == 50
    assert violations(pg_db, store.shop) == []


def test_one_key_sent_ten_times_at_once_is_one_redemption(pg_db, factory, store):
    shopper = factory.customer(store.shop, platform_id="7001", email="jane@example.test")
    factory.points(store.shop, shopper, 1000)
    reward = make_reward(pg_db, store.shop, points_cost=100)

    results = run_together(10, lambda i: redeem(
        pg_db, store.settings, store.shop.id, shopper.id, reward.id, "double-clicked",
        client_factory=store.client_factory()))

    answered = [r for r in results if not isinstance(r, BaseException)]
    (only,) = redemptions_of(pg_db, store.shop)
    # Every request answers with the one redemption, or "still processing" while the
    # first request is creating its code; none debits again.
    assert answered and {r.id for r in answered} == {only.id}
    assert all(type(r).__name__ == "RedemptionProcessing" for r in results if isinstance(r, BaseException))
    assert store.codes() == [only.code] and only.status == "issued"
    assert balance(pg_db, shopper) == 900
    assert violations(pg_db, store.shop) == []
