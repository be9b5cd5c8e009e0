"""The Shopify Admin GraphQL client against a fake Admin API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes.shopify_admin import INVALID_TOKEN, FakeShopifyAdmin, line, order_node, refund

from integrations.base import PlatformAuthError, PlatformError
from integrations.shopify.client import ShopifyClient

DOMAIN, TOKEN, VERSION = "demo-shop.myshopify.com", "shpat_test_token", "2025-10"
SINCE = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def admin():
    with FakeShopifyAdmin(shop=DOMAIN, access_token=TOKEN, api_version=VERSION) as fake:
        yield fake


def client_for(admin: FakeShopifyAdmin, sleeps: list[float] | None = None, token: str = TOKEN, **kw) -> ShopifyClient:
    return ShopifyClient(DOMAIN, token, shop_origin=admin.origin_template, api_version=VERSION,
                         sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def put_orders(admin: FakeShopifyAdmin, count: int) -> None:
    for n in range(count):
        admin.put_order(order_node(1000 + n, f"2026-11-21T10:{n:02d}:00Z", lines=[line("10.00")]))


def test_pages_through_every_order_once_with_cursors(admin):
    put_orders(admin, 7)
    admin.put_order(order_node(999, "2026-11-19T23:59:59Z", lines=[line("5.00")]))  # before `since`

    events = list(client_for(admin, page_size=3).iter_orders_updated_since(SINCE))

    assert [e.platform_order_id for e in events] == [str(1000 + n) for n in range(7)]
    variables = [r["variables"] for r in admin.requests]
    assert [v["cursor"] is None for v in variables] == [True, False, False]
    assert len({v["cursor"] for v in variables}) == 3
    assert all(v["query"] == "updated_at:>='2026-11-20T00:00:00Z'" for v in variables)
    assert all("sortKey: UPDATED_AT" in r["query"] for r in admin.requests)


def test_throttled_requests_wait_for_the_bucket_then_succeed(admin):
    put_orders(admin, 2)
    admin.throttle_next(2, currently_available=2.0)
    sleeps: list[float] = []

    events = list(client_for(admin, sleeps).iter_orders_updated_since(SINCE))

    assert len(events) == 2
    requested = 2 + 50 * admin.cost_per_order  # the cost the fake reports for a page of 50
    expected = (requested - 2.0) / admin.restore_rate  # (requested − available) / restoreRate
    assert sleeps == [pytest.approx(expected, abs=0.1)] * 2
    assert [r["status"] for r in admin.requests] == [200, 200, 200]


def test_http_429_is_waited_out_per_retry_after(admin):
    put_orders(admin, 1)
    admin.rate_limit_next(1, retry_after="1.5")
    sleeps: list[float] = []

    events = list(client_for(admin, sleeps).iter_orders_updated_since(SINCE))

    assert len(events) == 1
    assert sleeps == [1.5]
    assert [r["status"] for r in admin.requests] == [429, 200]


def test_a_bad_token_is_a_clear_auth_error(admin):
    put_orders(admin, 1)
    with pytest.raises(PlatformAuthError) as caught:
        list(client_for(admin, token="shpat_revoked").iter_orders_updated_since(SINCE))
    assert INVALID_TOKEN in str(caught.value) and "reinstall" in str(caught.value)
    assert "shpat_revoked" not in str(caught.value)
    assert len(admin.requests) == 1  # never retried


def test_server_errors_are_retried_then_raise(admin):
    put_orders(admin, 1)
    admin.fail_next(2, status=502)
    sleeps: list[float] = []
    assert len(list(client_for(admin, sleeps).iter_orders_updated_since(SINCE))) == 1
    assert sleeps == [1, 2]

    admin.fail_next(10, status=503)
    with pytest.raises(PlatformError, match="HTTP 503"):
        list(client_for(admin).iter_orders_updated_since(SINCE))


def test_a_page_over_the_cost_limit_is_asked_again_smaller(admin):
    admin.cost_per_order = 30  # 50 orders would cost 1502 > 1000
    put_orders(admin, 4)

    events = list(client_for(admin).iter_orders_updated_since(SINCE))

    assert len(events) == 4
    assert [r["variables"]["first"] for r in admin.requests] == [50, 25]


def test_node_maps_to_the_same_event_as_the_webhook_would(admin):
    admin.put_order(order_node(
        4242, "2026-11-21T12:00:00Z",
        lines=[line("20.00", 2, discount="5.00"), line("25.00", gift_card=True)],
        shipping="7.50", tax="3.10",
        refunds=[refund(77, "2026-11-21T11:00:00Z", [("10.00", "0.80")])],
    ))
    admin.put_order(order_node(4243, "2026-11-21T12:01:00Z", lines=[line("9.99")],
                               financial_status="VOIDED", cancelled_at="2026-11-21T12:01:00Z", customer_id=None))

    paid, cancelled = list(client_for(admin).iter_orders_updated_since(SINCE))

    assert paid.platform_order_id == "4242" and paid.customer.platform_id == "7001"
    assert (paid.lines_minor, paid.gift_card_minor, paid.shipping_minor, paid.tax_minor) == (3500, 2500, 750, 310)
    assert paid.total_minor == 3500 + 2500 + 750 + 310
    assert paid.paid and not paid.cancelled and paid.currency == "USD"
    assert [(r.platform_id, r.lines_minor, r.tax_minor) for r in paid.refunds] == [("77", 1000, 80)]
    assert cancelled.cancelled and not cancelled.paid and cancelled.customer is None


def test_an_order_with_more_lines_than_a_page_is_fetched_in_full(admin):
    admin.put_order(order_node(5000, "2026-11-21T12:00:00Z", lines=[line("1.00") for _ in range(12)]))

    (event,) = list(client_for(admin).iter_orders_updated_since(SINCE))

    assert event.lines_minor == 1200  # not the 10 lines the list query carries
    assert ["orders(" in r["query"] for r in admin.requests] == [True, False]
