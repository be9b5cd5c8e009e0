"""Single-use WooCommerce coupons against the fake store: what is sent for each reward
kind, authentication, and how every kind of failure is reported."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fakes.woocommerce_rest import COUPONS_PATH, FakeWooCommerceStore
from fixture_files import FIXTURES

from integrations.base import (
    DiscountCodeTaken,
    DiscountRejected,
    DiscountSpec,
    PlatformAuthError,
    PlatformTemporaryError,
    get_client,
)
from integrations.woocommerce.client import WooCommerceClient

KEY, SECRET = "ck_test_coupons", "cs_test_coupons"
SPEC = DiscountSpec(code="LL-ABCDEFGHJK", title="Loyalty reward: 500 points for $5 off", kind="fixed_amount",
                    value=500, currency="USD", customer_platform_id="2", customer_email="jane.loyal@example.test",
                    starts_at=datetime(2026, 11, 23, 17, 0, tzinfo=UTC),
                    ends_at=datetime(2026, 12, 23, 23, 59, 59, tzinfo=UTC), redemption_id=41)


@pytest.fixture
def store():
    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET) as fake:
        yield fake


def client_for(store: FakeWooCommerceStore, secret: str = SECRET, sleeps: list[float] | None = None,
               **kw) -> WooCommerceClient:
    return WooCommerceClient(store.url, KEY, secret, allow_http=True,
                             sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def posted(store: FakeWooCommerceStore) -> list[dict]:
    return [r for r in store.requests if r["method"] == "POST" and r["path"] == COUPONS_PATH]


# -- what is sent ------------------------------------------------------------------------


def test_fixed_amount_coupon_matches_the_documented_request_and_returns_its_id(store):
    created = client_for(store).create_discount(replace(SPEC, min_order_minor=2500))

    [request] = posted(store)
    assert request["json"] == {
        "code": "LL-ABCDEFGHJK",
        "description": "Loyalty reward: 500 points for $5 off",
        "email_restrictions": ["jane.loyal@example.test"],
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "individual_use": True,
        "discount_type": "fixed_cart",
        "amount": "5.00",
        "date_expires_gmt": "2026-12-23T23:59:59",
        "minimum_amount": "25.00",
        "meta_data": [{"key": "_loyalty_redemption_id", "value": "41"}],
    }
    # The same fields, with the same value types, as the real loyalty-style create.
    recorded = json.loads((FIXTURES / "woocommerce" / "coupon-create-fixed-cart.json").read_text())["request"]["json"]
    shared = set(recorded) & set(request["json"])
    assert {k: type(recorded[k]) for k in shared} == {k: type(request["json"][k]) for k in shared}
    coupon = store.coupon(SPEC.code)
    assert created.platform_discount_id == str(coupon["id"])
    assert created.code == SPEC.code
    assert coupon["code"] == "ll-abcdefghjk"  # WooCommerce keeps codes lowercase


def test_percentage_combinable_coupon(store):
    client_for(store).create_discount(replace(SPEC, kind="percentage", value=15, combines_with_other_discounts=True))
    body = posted(store)[0]["json"]
    assert (body["discount_type"], body["amount"], body["individual_use"]) == ("percent", "15", False)
    assert "minimum_amount" not in body


def test_free_shipping_coupon(store):
    client_for(store).create_discount(replace(SPEC, kind="free_shipping", value=0))
    body = posted(store)[0]["json"]
    assert (body["discount_type"], body["amount"], body["free_shipping"]) == ("fixed_cart", "0", True)
    assert store.coupon(SPEC.code)["free_shipping"] is True


def test_free_product_coupon_is_one_unit_of_that_product_free(store):
    client_for(store).create_discount(replace(SPEC, kind="free_product", value=12))
    body = posted(store)[0]["json"]
    assert (body["discount_type"], body["amount"]) == ("percent", "100")
    assert body["product_ids"] == [12] and body["limit_usage_to_x_items"] == 1
    assert body["email_restrictions"] == ["jane.loyal@example.test"]


def test_a_coupon_without_the_shoppers_email_is_refused_before_asking(store):
    with pytest.raises(DiscountRejected, match="email"):
        client_for(store).create_discount(replace(SPEC, customer_email=None))
    assert store.requests == []


# -- authentication ----------------------------------------------------------------------


def test_requests_over_http_are_oauth_signed_and_a_wrong_secret_is_an_auth_error(store):
    client_for(store).create_discount(SPEC)
    assert posted(store)[0]["params"]["oauth_signature_method"] == "HMAC-SHA256"
    assert posted(store)[0]["authorization"] is None

    with pytest.raises(PlatformAuthError, match="Invalid signature - provided signature does not match"):
        client_for(store, secret="cs_wrong").create_discount(replace(SPEC, code="LL-OTHERCODE1"))
    assert store.codes() == ["ll-abcdefghjk"]


def test_basic_auth_is_accepted_only_where_the_store_speaks_https():
    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET, acts_as_https=True) as tls_store:
        client = client_for(tls_store)
        client._api.is_ssl = True  # what the package does for an https:// store URL: basic auth
        client.create_discount(SPEC)
        assert posted(tls_store)[0]["authorization"] == "Basic"
        assert tls_store.codes() == ["ll-abcdefghjk"]

    with FakeWooCommerceStore(consumer_key=KEY, consumer_secret=SECRET) as plain_store:
        client = client_for(plain_store)
        client._api.is_ssl = True
        with pytest.raises(PlatformAuthError):
            client.create_discount(SPEC)
        assert plain_store.codes() == []


# -- failures ----------------------------------------------------------------------------


def test_a_duplicate_code_is_taken_with_the_existing_coupon_id(store):
    first = client_for(store).create_discount(SPEC)

    with pytest.raises(DiscountCodeTaken) as caught:
        client_for(store).create_discount(replace(SPEC, code=SPEC.code.lower()))

    assert caught.value.platform_discount_id == first.platform_discount_id
    assert [r["status"] for r in posted(store)] == [201, 400]
    lookups = [r for r in store.requests if r["method"] == "GET"]
    assert [r["params"]["code"] for r in lookups] == [SPEC.code.lower()]
    assert len(store.coupons) == 1


def test_other_wordpress_errors_are_rejections_with_readable_messages(store):
    store.reject_next(code="woocommerce_rest_invalid_coupon",
                      message="Coupon &quot;LL-ABCDEFGHJK&quot; is not valid.", status=400)
    with pytest.raises(DiscountRejected) as caught:
        client_for(store).create_discount(SPEC)
    assert 'woocommerce_rest_invalid_coupon: Coupon "LL-ABCDEFGHJK" is not valid.' in str(caught.value)
    assert not isinstance(caught.value, DiscountCodeTaken)
    assert store.coupons == {}


def test_server_errors_are_retried_then_temporary(store):
    store.fail_next(2, status=503)
    sleeps: list[float] = []
    client_for(store, sleeps=sleeps).create_discount(SPEC)
    assert sleeps == [1.0, 2.0]
    assert store.codes() == ["ll-abcdefghjk"]

    store.fail_next(10, status=500)
    with pytest.raises(PlatformTemporaryError, match="HTTP 500"):
        client_for(store).create_discount(replace(SPEC, code="LL-OTHERCODE1"))
    assert store.codes() == ["ll-abcdefghjk"]


def test_a_timeout_is_temporary_and_a_later_attempt_finds_the_coupon_that_landed(store):
    store.slow_next(4, seconds=1.0)  # every attempt answers too late; the first one did create
    with pytest.raises(PlatformTemporaryError, match="unreachable"):
        client_for(store, timeout=0.2).create_discount(SPEC)
    assert store.codes() == ["ll-abcdefghjk"]

    with pytest.raises(DiscountCodeTaken) as caught:
        client_for(store).create_discount(SPEC)
    assert caught.value.platform_discount_id == str(store.coupon(SPEC.code)["id"])


def test_get_client_builds_a_coupon_client_from_the_shop(store, factory, settings):
    shop = factory.shop("woocommerce", domain=store.url,
                        credentials={"consumer_key": KEY, "consumer_secret": SECRET, "webhook_secret": "x"})
    client = get_client(shop, settings.with_overrides(allow_http_stores=True), sleep=lambda s: None)
    created = client.create_discount(SPEC)
    assert created.platform_discount_id == str(store.coupon(SPEC.code)["id"])
