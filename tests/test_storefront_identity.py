"""Storefront identity: a customer id counts only when Shopify's app proxy or the shop's
own server signed it. Unit tests of `widgets.identity`, then the same rules over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from freezegun import freeze_time

from widgets.identity import (
    StorefrontAuthError,
    sign_app_proxy,
    sign_storefront,
    verify_app_proxy,
    verify_storefront_headers,
)

# Shopify's documented example, "Calculate a digital signature" (shared secret "hush"):
# https://shopify.dev/docs/apps/build/online-store/app-proxies/authenticate-app-proxies
# (earlier revision: https://shopify.dev/docs/apps/online-store/app-proxies#calculate-a-digital-signature)
DOC_SECRET = "hush"
DOC_LOGGED_IN = (
    "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1"
    "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
    "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
)
DOC_GUEST = (
    "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id="
    "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
    "&signature=e072b6d7e6622d85912a5214b860d3100dc1e73d9bc29f43796ac8c9ff8093cb"
)
DOC_NOW = datetime.fromtimestamp(1317327555, UTC)


def items(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


# -- Shopify app proxy ----------------------------------------------------------------------


def test_shopify_documented_vector_logged_in():
    identity = verify_app_proxy(items(DOC_LOGGED_IN), DOC_SECRET, DOC_NOW)
    assert identity.shop_domain == "shop-name.myshopify.com"
    assert identity.customer_platform_id == "1"
    assert identity.path_prefix == "/apps/awesome_reviews"
    assert identity.timestamp == 1317327555


def test_shopify_documented_vector_guest():
    identity = verify_app_proxy(items(DOC_GUEST), DOC_SECRET, DOC_NOW + timedelta(seconds=90))
    assert identity.customer_platform_id is None


def test_sign_app_proxy_reproduces_the_documented_signature():
    unsigned = [(k, v) for k, v in items(DOC_LOGGED_IN) if k != "signature"]
    assert sign_app_proxy(unsigned, DOC_SECRET) == dict(items(DOC_LOGGED_IN))["signature"]


def test_previous_secret_still_verifies_during_rotation():
    identity = verify_app_proxy(items(DOC_LOGGED_IN), ["new-secret", DOC_SECRET], DOC_NOW)
    assert identity.customer_platform_id == "1"


@pytest.mark.parametrize(
    "query",
    [
        DOC_LOGGED_IN.replace("logged_in_customer_id=1", "logged_in_customer_id=2"),
        DOC_LOGGED_IN.replace("extra=2", "extra=3"),
        DOC_LOGGED_IN.replace("shop=shop-name", "shop=other-shop"),
        DOC_LOGGED_IN + "&added=1",
        DOC_LOGGED_IN.replace("signature=4c", "signature=5c"),
        DOC_LOGGED_IN.replace("signature=4c68c8624d", "signature=zz68c8624d"),
        DOC_LOGGED_IN.split("&signature=")[0],
        DOC_LOGGED_IN.replace("shop=shop-name.myshopify.com&", ""),
    ],
    ids=["customer", "extra", "shop", "added", "signature", "not-hex", "unsigned", "no-shop"],
)
def test_tampered_app_proxy_query_is_refused(query):
    with pytest.raises(StorefrontAuthError):
        verify_app_proxy(items(query), DOC_SECRET, DOC_NOW)


def test_wrong_secret_is_refused():
    with pytest.raises(StorefrontAuthError):
        verify_app_proxy(items(DOC_LOGGED_IN), "not-hush", DOC_NOW)


@pytest.mark.parametrize("offset", [91, -91, 3600])
def test_app_proxy_timestamp_more_than_90_seconds_off_is_refused(offset):
    with pytest.raises(StorefrontAuthError) as caught:
        verify_app_proxy(items(DOC_LOGGED_IN), DOC_SECRET, DOC_NOW + timedelta(seconds=offset))
    assert caught.value.code == "stale_storefront_signature"


@pytest.mark.parametrize("name", ["shop", "timestamp", "signature", "logged_in_customer_id"])
def test_duplicated_single_parameters_are_refused(name):
    query = items(DOC_LOGGED_IN)
    value = dict(query)[name]
    with pytest.raises(StorefrontAuthError):
        verify_app_proxy([*query, (name, value)], DOC_SECRET, DOC_NOW)


# -- X-Loyalty headers ---------------------------------------------------------------------------

SECRET = "widget-secret-of-shop-7"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def headers(shop_id=7, customer="42", timestamp=None, secret=SECRET):
    ts = int(NOW.timestamp()) if timestamp is None else timestamp
    out = {
        "X-Loyalty-Shop": str(shop_id),
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop_id, customer, ts, secret),
    }
    if customer is not None:
        out["X-Loyalty-Customer"] = customer
    return out


def lookup(shop_id):
    return ({"id": 7}, [SECRET]) if shop_id == 7 else None


def test_sign_storefront_is_hmac_over_shop_customer_timestamp():
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"12:4711:1700000000", hashlib.sha256).hexdigest()
    assert sign_storefront(12, "4711", 1700000000, "s3cret") == expected
    guest = hmac.new(b"s3cret", b"12::1700000000", hashlib.sha256).hexdigest()
    assert sign_storefront(12, None, 1700000000, "s3cret") == guest
    # The worked example in docs/storefront-api.md.
    assert expected == "4511590c7fd9dcdf66635dd614fb032ff0e3d112dbef362ed5254b42dddcbade"


def test_valid_headers_identify_the_shopper():
    identity = verify_storefront_headers(headers(), lookup, NOW)
    assert (identity.shop_id, identity.customer_platform_id) == (7, "42")
    assert identity.shop == {"id": 7}


def test_missing_customer_header_is_a_signed_guest():
    identity = verify_storefront_headers(headers(customer=None), lookup, NOW)
    assert identity.customer_platform_id is None
    forged = headers(customer=None) | {"X-Loyalty-Customer": "42"}  # guest signature, a customer
    with pytest.raises(StorefrontAuthError):
        verify_storefront_headers(forged, lookup, NOW)


def test_headers_expire_after_five_minutes():
    signed = headers()
    verify_storefront_headers(signed, lookup, NOW + timedelta(seconds=300))
    with pytest.raises(StorefrontAuthError):
        verify_storefront_headers(signed, lookup, NOW + timedelta(seconds=301))
    with pytest.raises(StorefrontAuthError):
        verify_storefront_headers(signed, lookup, NOW - timedelta(seconds=301))


@pytest.mark.parametrize(
    "change",
    [
        {"X-Loyalty-Customer": "43"},
        {"X-Loyalty-Shop": "8"},
        {"X-Loyalty-Timestamp": str(int(NOW.timestamp()) + 1)},
        {"X-Loyalty-Signature": "0" * 64},
        {"X-Loyalty-Signature": "not-hex"},
        {"X-Loyalty-Signature": ""},
        {"X-Loyalty-Shop": "seven"},
        {"X-Loyalty-Shop": "-7"},
        {"X-Loyalty-Shop": "9" * 40},
        {"X-Loyalty-Timestamp": "soon"},
        {"X-Loyalty-Timestamp": "1e9"},
        {"X-Loyalty-Customer": "a:b"},
        {"X-Loyalty-Customer": "x" * 65},
    ],
)
def test_tampered_or_malformed_headers_are_refused(change):
    with pytest.raises(StorefrontAuthError):
        verify_storefront_headers(headers() | change, lookup, NOW)


def test_another_shops_secret_is_refused():
    with pytest.raises(StorefrontAuthError):
        verify_storefront_headers(headers(secret="secret-of-another-shop"), lookup, NOW)


# -- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def shop_and_member(factory):
    shop = factory.shop("woocommerce")
    member = factory.customer(shop, platform_id="501")
    factory.points(shop, member, 250)
    return shop, member


def signed(shop, customer_platform_id, when=None, secret=None):
    ts = int((when or datetime.now(UTC)).timestamp())
    out = {
        "X-Loyalty-Shop": str(shop.id),
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(
            shop.id, customer_platform_id, ts, secret or shop.widget_secret_value()
        ),
    }
    if customer_platform_id is not None:
        out["X-Loyalty-Customer"] = customer_platform_id
    return out


def assert_401(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] in {
        "invalid_storefront_signature",
        "stale_storefront_signature",
        "unknown_shop",
    }


def test_http_valid_headers_show_the_shoppers_balance(client, shop_and_member):
    shop, _ = shop_and_member
    r = client.get("/storefront/v1/me", headers=signed(shop, "501"))
    assert r.status_code == 200
    assert r.get_json()["points_balance"] == 250 and r.get_json()["guest"] is False


def test_http_expired_headers_are_401(client, shop_and_member):
    shop, _ = shop_and_member
    with freeze_time("2025-01-01 12:00:00"):
        old = signed(shop, "501")
    with freeze_time("2025-01-01 12:05:01"):
        assert_401(client.get("/storefront/v1/me", headers=old))
    with freeze_time("2025-01-01 12:04:59"):
        assert client.get("/storefront/v1/me", headers=old).status_code == 200


def test_http_tampered_or_other_shop_secret_is_401(client, factory, shop_and_member):
    shop, _ = shop_and_member
    other = factory.shop("woocommerce")
    assert_401(client.get("/storefront/v1/me", headers=signed(shop, "501") | {"X-Loyalty-Customer": "502"}))
    assert_401(client.get("/storefront/v1/me", headers=signed(shop, "501", secret=other.widget_secret_value())))
    assert_401(client.get("/storefront/v1/me"))
    odd = {"X-Loyalty-Shop": "\u00e9", "X-Loyalty-Timestamp": "x", "X-Loyalty-Signature": "\x00"}
    assert_401(client.get("/storefront/v1/me", headers={k: v.encode().decode("latin-1") for k, v in odd.items()}))


def test_http_guest_view_shows_programme_not_points(client, factory):
    shop = factory.shop("woocommerce", program={"signup_points": 50, "points_per_unit": "2"})
    r = client.get("/storefront/v1/me", headers=signed(shop, None))
    body = r.get_json()
    assert r.status_code == 200 and body["guest"] is True
    assert body["points_balance"] is None
    kinds = {w["kind"]: w for w in body["ways_to_earn"]}
    assert kinds["signup"]["points"] == 50 and kinds["order"]["points_per_unit"] == "2"


def proxy_query(shop_domain, customer, secret, when=None, extra=()):
    ts = int((when or datetime.now(UTC)).timestamp())
    params = [
        *extra,
        ("shop", shop_domain),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/loyalty"),
        ("timestamp", str(ts)),
    ]
    return urlencode([*params, ("signature", sign_app_proxy(params, secret))])


def test_http_app_proxy_identifies_the_shopper(client, settings, factory):
    shop = factory.shop("shopify")
    factory.points(shop, factory.customer(shop, platform_id="777"), 90)
    query = proxy_query(shop.domain, "777", settings.shopify_api_secret)
    r = client.get(f"/proxy/v1/me?{query}")
    assert r.status_code == 200 and r.get_json()["points_balance"] == 90

    assert_401(client.get(f"/proxy/v1/me?{query.replace('777', '778')}"))
    assert_401(client.get(f"/proxy/v1/me?{query}&shop={shop.domain}"))
    stale = proxy_query(shop.domain, "777", settings.shopify_api_secret,
                        when=datetime.now(UTC) - timedelta(seconds=120))
    assert_401(client.get(f"/proxy/v1/me?{stale}"))
    wrong = proxy_query(shop.domain, "777", "another-app-secret")
    assert_401(client.get(f"/proxy/v1/me?{wrong}"))
    unknown = proxy_query("not-installed.myshopify.com", "777", settings.shopify_api_secret)
    assert_401(client.get(f"/proxy/v1/me?{unknown}"))
    # The X-Loyalty headers do not open the app-proxy routes, nor the reverse.
    assert_401(client.get("/proxy/v1/me", headers=signed(shop, "777")))
    assert_401(client.get(f"/storefront/v1/me?{query}"))


def test_http_app_proxy_guest(client, settings, factory):
    shop = factory.shop("shopify")
    r = client.get(f"/proxy/v1/me?{proxy_query(shop.domain, '', settings.shopify_api_secret)}")
    assert r.status_code == 200 and r.get_json()["guest"] is True
