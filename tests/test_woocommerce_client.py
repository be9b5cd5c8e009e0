"""The WooCommerce REST client against a fake store serving the captured order JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import requests
from fakes.woocommerce_rest import FakeWooCommerceStore, store_orders_from_fixtures
from fixture_files import FIXTURES

from integrations.base import PlatformAuthError, PlatformConfigError, PlatformError
from integrations.woocommerce.client import WooCommerceClient

KEY, SECRET = "ck_test_reconcile", "cs_test_reconcile"
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


@pytest.fixture
def store():
    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET,
                              orders=store_orders_from_fixtures(FIXTURES / "woocommerce")) as fake:
        yield fake


def listed(store: FakeWooCommerceStore) -> list[dict]:
    return [r for r in store.requests if r["path"].endswith("/orders")]


def visible_ids(store: FakeWooCommerceStore, since: str = "") -> list[str]:
    return sorted(str(o["id"]) for o in store.orders.values()
                  if o["status"] != "trash" and o["date_modified_gmt"] >= since)


def test_walks_every_page_once_oldest_change_first(store):
    sleeps: list[float] = []
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True, per_page=3, sleep=sleeps.append)

    events = list(client.iter_orders_updated_since(START))

    assert sorted(e.platform_order_id for e in events) == visible_ids(store)
    assert len(events) == len({e.platform_order_id for e in events})
    assert [e.updated_at for e in events] == sorted(e.updated_at for e in events)
    pages = [r["params"]["page"] for r in listed(store)]
    assert pages == [str(n) for n in range(1, len(pages) + 1)]
    assert len(pages) == -(-len(events) // 3)
    first = listed(store)[0]["params"]
    assert first["orderby"] == "modified" and first["order"] == "asc"
    assert first["dates_are_gmt"] == "true" and first["per_page"] == "3"
    assert sleeps == []


def test_only_orders_modified_at_or_after_since(store):
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True)
    since = datetime(2026, 11, 23, 17, 53, 0, tzinfo=UTC)

    ids = sorted(e.platform_order_id for e in client.iter_orders_updated_since(since))

    assert ids == visible_ids(store, "2026-11-23T17:53:00")
    assert "27" in ids  # modified exactly at `since`
    assert "17" not in ids


def test_trashed_and_deleted_orders_are_not_listed(store):
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True)
    ids = {e.platform_order_id for e in client.iter_orders_updated_since(START)}
    assert "18" not in ids and "28" not in ids  # trashed draft, force-deleted throwaway
    assert {"17", "19", "21", "23", "25", "26", "27", "29"} <= ids


def test_a_wrong_secret_is_refused_by_the_signature_check(store):
    client = WooCommerceClient(store.url, KEY, "cs_wrong", allow_http=True)
    with pytest.raises(PlatformAuthError, match="Invalid signature - provided signature does not match"):
        list(client.iter_orders_updated_since(START))
    assert [r["status"] for r in listed(store)] == [401]


def test_an_unknown_consumer_key_is_refused(store):
    client = WooCommerceClient(store.url, "ck_someone_else", SECRET, allow_http=True)
    with pytest.raises(PlatformAuthError, match="Consumer key is invalid"):
        list(client.iter_orders_updated_since(START))


def test_the_fake_accepts_an_independently_signed_hmac_sha1_request(store):
    """The fake checks RFC 5849 signatures, not just what the package happens to send."""
    url = store.url + "/wp-json/wc/v3/orders"
    params = {"oauth_consumer_key": KEY, "oauth_nonce": "n0nce", "oauth_signature_method": "HMAC-SHA1",
              "oauth_timestamp": str(int(time.time())), "per_page": "2"}
    normalized = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))
    base = "&".join(["GET", quote(url, safe="~"), quote(normalized, safe="~")])
    signature = base64.b64encode(hmac.new(f"{SECRET}&".encode(), base.encode(), hashlib.sha1).digest()).decode()

    ok = requests.get(url, params={**params, "oauth_signature": signature}, timeout=5)
    replay = requests.get(url, params={**params, "oauth_signature": signature}, timeout=5)

    assert ok.status_code == 200 and len(ok.json()) == 2
    assert ok.headers["X-WP-TotalPages"] == str(-(-int(ok.headers["X-WP-Total"]) // 2))
    assert 'rel="next"' in ok.headers["Link"]
    assert replay.status_code == 401 and replay.json()["code"] == "woocommerce_rest_authentication_error"


def test_plain_http_store_needs_allow_http_stores(store):
    with pytest.raises(PlatformConfigError, match="ALLOW_HTTP_STORES"):
        WooCommerceClient(store.url, KEY, SECRET, allow_http=False)
    assert store.requests == []


def test_server_errors_are_retried_with_backoff_then_succeed(store):
    store.fail_next(2, status=503)
    sleeps: list[float] = []
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True, sleep=sleeps.append)

    ids = sorted(e.platform_order_id for e in client.iter_orders_updated_since(START))

    assert ids == visible_ids(store)
    assert sleeps == [1.0, 2.0]


def test_server_errors_that_persist_raise_a_platform_error(store):
    store.fail_next(10, status=500)
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True, sleep=lambda s: None)
    with pytest.raises(PlatformError, match="HTTP 500: internal_server_error"):
        list(client.iter_orders_updated_since(START))


def test_an_order_modified_mid_walk_does_not_hide_another(store):
    """Page-number paging over a list sorted by modification shifts every order behind a
    modified one; the client notices (fewer ids than X-WP-Total) and walks again."""
    first_of_list = min(visible_ids(store), key=lambda i: store.orders[int(i)]["date_modified_gmt"])

    def touch_first_order(page: int) -> None:
        if page == 2 and store.orders[int(first_of_list)]["date_modified_gmt"] < "2026-11-23T18:00:00":
            store.orders[int(first_of_list)] = {**store.orders[int(first_of_list)],
                                                "date_modified_gmt": "2026-11-23T18:00:00"}

    store.before_page = touch_first_order
    client = WooCommerceClient(store.url, KEY, SECRET, allow_http=True, per_page=3)

    ids = {e.platform_order_id for e in client.iter_orders_updated_since(START)}

    assert ids == set(visible_ids(store))
    assert [r["params"]["page"] for r in listed(store)].count("1") == 2  # walked twice
