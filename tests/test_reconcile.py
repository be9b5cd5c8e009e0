"""Reconciliation end to end on PostgreSQL: a shop whose webhooks were lost gets exactly
the points it would have got from them, a second pass changes nothing, and failures leave
the sync point where it was."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from fakes.shopify_admin import FakeShopifyAdmin, line, order_node, refund
from fakes.woocommerce_rest import FakeWooCommerceStore, store_orders_from_fixtures
from fixture_files import FIXTURES
from sqlalchemy import func, select

from app.jobs.reconcile import OVERLAP, reconcile_all_shops, reconcile_shop
from app.jobs.webhook_jobs import apply_event
from app.loyalty.checks import find_violations
from app.models import Customer, LedgerEntry, OrderSnapshot, Shop
from app.runtime import init_runtime
from integrations.base import PlatformAuthError
from integrations.woocommerce.adapter import to_event as woocommerce_event

VERSION = "2025-10"
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)


def set_synced(db, shop_id: int, when: datetime | None) -> None:
    with db.transaction() as s:
        s.get(Shop, shop_id).last_synced_at = when


def synced_at(db, shop_id: int) -> datetime | None:
    with db.session() as s:
        return s.get(Shop, shop_id).last_synced_at


def balances(db, shop_id: int) -> dict[str, tuple[int, int, int]]:
    with db.session() as s:
        rows = s.execute(select(Customer.platform_id, Customer.points_balance, Customer.pending_points,
                                Customer.lifetime_points).where(Customer.shop_id == shop_id))
        return {pid: (bal, pending, life) for pid, bal, pending, life in rows}


def entry_count(db, shop_id: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.shop_id == shop_id))


def violations(db, shop_id: int) -> list:
    with db.session() as s:
        return find_violations(s, shop_id)


# -- Shopify -------------------------------------------------------------------------------


@pytest.fixture
def shopify_shop(factory, settings, pg_db):
    shop = factory.shop("shopify")
    token = shop.credentials["access_token"]
    with FakeShopifyAdmin(shop=shop.domain, access_token=token, api_version=VERSION) as admin:
        init_runtime(settings.with_overrides(shopify_shop_origin=admin.origin_template,
                                             shopify_api_version=VERSION), db=pg_db)
        set_synced(pg_db, shop.id, SINCE)
        yield shop, admin


def test_lost_shopify_webhooks_are_made_good_and_a_second_pass_changes_nothing(shopify_shop, pg_db):
    shop, admin = shopify_shop
    # Customer 7001: 50.00 paid, and 30.00 paid with 10.00 of it refunded → 50 + 20 points
    # at the default 1 point per unit, tax and shipping excluded. Cancelled and unpaid
    # orders earn nothing; customer 7002's order earns 12.
    admin.put_order(order_node(1, "2026-11-21T09:00:00Z", lines=[line("50.00")], shipping="5.00", tax="4.00"))
    admin.put_order(order_node(2, "2026-11-21T09:05:00Z", lines=[line("15.00", 2)],
                               financial_status="PARTIALLY_REFUNDED",
                               refunds=[refund(21, "2026-11-21T09:05:00Z", [("10.00", "0.00")])]))
    admin.put_order(order_node(3, "2026-11-21T09:10:00Z", lines=[line("80.00")], financial_status="VOIDED",
                               cancelled_at="2026-11-21T09:10:00Z"))
    admin.put_order(order_node(4, "2026-11-21T09:15:00Z", lines=[line("40.00")], financial_status="PENDING"))
    admin.put_order(order_node(5, "2026-11-21T09:20:00Z", lines=[line("12.99")], customer_id=7002,
                               email="bo@example.test"))

    counts = reconcile_shop(shop.id, now=NOW)

    assert counts["fetched"] == 5 and counts["changed"] == 3
    assert {pid: bal for pid, (bal, _, _) in balances(pg_db, shop.id).items()} == {"7001": 70, "7002": 12}
    assert synced_at(pg_db, shop.id) == datetime(2026, 11, 21, 9, 20, tzinfo=UTC) - OVERLAP
    assert violations(pg_db, shop.id) == []

    before = (balances(pg_db, shop.id), entry_count(pg_db, shop.id))
    again = reconcile_shop(shop.id, now=NOW)

    assert (balances(pg_db, shop.id), entry_count(pg_db, shop.id)) == before
    assert again["changed"] == 0 and again["fetched"] == 2  # orders 4 and 5, inside the overlap
    assert admin.requests[-1]["variables"]["query"] == "updated_at:>='2026-11-21T09:15:00Z'"
    assert violations(pg_db, shop.id) == []


def test_a_refund_seen_only_by_the_poll_takes_points_back(shopify_shop, pg_db):
    shop, admin = shopify_shop
    admin.put_order(order_node(9, "2026-11-21T09:00:00Z", lines=[line("60.00")]))
    reconcile_shop(shop.id, now=NOW)
    admin.put_order(order_node(9, "2026-11-22T10:00:00Z", lines=[line("60.00")], financial_status="PARTIALLY_REFUNDED",
                               refunds=[refund(91, "2026-11-22T10:00:00Z", [("25.00", "0.00")])]))

    counts = reconcile_shop(shop.id, now=NOW)

    assert counts["points_taken_back"] == 25
    assert balances(pg_db, shop.id)["7001"][0] == 35
    assert violations(pg_db, shop.id) == []


def test_throttling_during_a_pass_is_waited_out(shopify_shop, pg_db):
    shop, admin = shopify_shop
    admin.put_order(order_node(1, "2026-11-21T09:00:00Z", lines=[line("10.00")]))
    admin.throttle_next(1)
    admin.rate_limit_next(1, retry_after="3")
    sleeps: list[float] = []

    reconcile_shop(shop.id, now=NOW, sleep=sleeps.append)

    assert len(sleeps) == 2 and 3.0 in sleeps
    assert balances(pg_db, shop.id)["7001"][0] == 10


def test_bad_credentials_converge_nothing_and_keep_the_sync_point(shopify_shop, pg_db):
    shop, admin = shopify_shop
    admin.put_order(order_node(1, "2026-11-21T09:00:00Z", lines=[line("50.00")]))
    admin.access_token = "shpat_rotated_elsewhere"

    with pytest.raises(PlatformAuthError, match="Invalid API key or access token"):
        reconcile_shop(shop.id, now=NOW)

    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(OrderSnapshot).where(OrderSnapshot.shop_id == shop.id)) == 0
    assert entry_count(pg_db, shop.id) == 0
    assert synced_at(pg_db, shop.id) == SINCE


def test_a_failed_pass_keeps_the_sync_point(shopify_shop, pg_db):
    shop, admin = shopify_shop
    admin.put_order(order_node(1, "2026-11-21T09:00:00Z", lines=[line("50.00")]))
    admin.fail_next(10, status=500)

    with pytest.raises(Exception, match="HTTP 500"):
        reconcile_shop(shop.id, now=NOW, sleep=lambda s: None)
    assert synced_at(pg_db, shop.id) == SINCE


def test_an_uninstalled_shop_is_skipped(shopify_shop, pg_db):
    shop, admin = shopify_shop
    admin.put_order(order_node(1, "2026-11-21T09:00:00Z", lines=[line("50.00")]))
    with pg_db.transaction() as s:
        s.get(Shop, shop.id).install_state = "uninstalled"

    counts = reconcile_shop(shop.id, now=NOW)

    assert counts["skipped"] == "install state uninstalled"
    assert admin.requests == [] and entry_count(pg_db, shop.id) == 0


def test_the_cron_entry_queues_one_job_per_installed_shop(factory, settings, pg_db, redis_url):
    from redis import Redis
    from rq import Queue

    installed = [factory.shop("shopify"), factory.shop("woocommerce")]
    gone = factory.shop("shopify")
    with pg_db.transaction() as s:
        s.get(Shop, gone.id).install_state = "uninstalled"
    init_runtime(settings.with_overrides(redis_url=redis_url), db=pg_db)
    try:
        assert reconcile_all_shops() == {"queued": 2}
        queue = Queue("low", connection=Redis.from_url(redis_url))
        jobs = queue.get_jobs()
        assert sorted(job.args[0] for job in jobs) == sorted(s.id for s in installed)
        assert {job.func_name for job in jobs} == {"app.jobs.reconcile.reconcile_shop"}
    finally:
        init_runtime(settings, db=pg_db)


# -- WooCommerce -----------------------------------------------------------------------------

KEY, SECRET = "ck_reconcile", "cs_reconcile"


def order_deliveries() -> list[tuple[str, dict]]:
    """The store's real order webhooks, in the order they arrived."""
    deliveries = []
    for raw in (FIXTURES / "woocommerce" / "deliveries.jsonl").read_text().splitlines():
        record = json.loads(raw)
        if record["kind"] == "webhook" and record["topic"].startswith("order."):
            deliveries.append((record["topic"], json.loads(base64.b64decode(record["body_base64"]))))
    return deliveries


def test_woocommerce_shop_that_lost_its_webhooks_ends_like_one_that_got_them(factory, settings, pg_db):
    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET,
                              orders=store_orders_from_fixtures(FIXTURES / "woocommerce")) as store:
        init_runtime(settings.with_overrides(allow_http_stores=True), db=pg_db)
        credentials = {"consumer_key": KEY, "consumer_secret": SECRET, "webhook_secret": "test-secret-123"}
        delivered = factory.shop("woocommerce", credentials=credentials)
        lost = factory.shop("woocommerce", domain=store.url, credentials=credentials)
        set_synced(pg_db, lost.id, SINCE)
        for topic, body in order_deliveries():
            event = woocommerce_event(topic, body)
            if event is not None:
                with pg_db.transaction() as s:
                    apply_event(s, s.get(Shop, delivered.id), event)

        counts = reconcile_shop(lost.id, now=NOW)

        expected = balances(pg_db, delivered.id)
        assert balances(pg_db, lost.id) == expected
        assert expected["2"][0] > 0  # Jane earned from her paid orders
        assert counts["fetched"] == len([o for o in store.orders.values() if o["status"] != "trash"])
        newest = max(o["date_modified_gmt"] for o in store.orders.values() if o["status"] != "trash")
        assert synced_at(pg_db, lost.id) == datetime.fromisoformat(newest).replace(tzinfo=UTC) - OVERLAP
        assert violations(pg_db, lost.id) == []

        before = (balances(pg_db, lost.id), entry_count(pg_db, lost.id))
        set_synced(pg_db, lost.id, SINCE)  # the whole history again
        again = reconcile_shop(lost.id, now=NOW)

        assert (balances(pg_db, lost.id), entry_count(pg_db, lost.id)) == before
        assert again["changed"] == 0
        assert violations(pg_db, lost.id) == []


def test_woocommerce_wrong_secret_converges_nothing(factory, settings, pg_db):
    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET,
                              orders=store_orders_from_fixtures(FIXTURES / "woocommerce")) as store:
        init_runtime(settings.with_overrides(allow_http_stores=True), db=pg_db)
        shop = factory.shop("woocommerce", domain=store.url,
                            credentials={"consumer_key": KEY, "consumer_secret": "cs_old", "webhook_secret": "x"})
        set_synced(pg_db, shop.id, SINCE)

        with pytest.raises(PlatformAuthError, match="woocommerce_rest_authentication_error"):
            reconcile_shop(shop.id, now=NOW)

        assert entry_count(pg_db, shop.id) == 0 and balances(pg_db, shop.id) == {}
        assert synced_at(pg_db, shop.id) == SINCE
