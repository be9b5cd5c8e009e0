"""Single-use Shopify discount codes against the fake Admin GraphQL API: what is sent for
each reward kind, and how every kind of failure is reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fakes.shopify_admin import CODE_TAKEN_MESSAGE, FakeShopifyAdmin
from sqlalchemy import text

from app.models import Shop
from integrations.base import (
    DiscountCodeTaken,
    DiscountRejected,
    DiscountSpec,
    PlatformAuthError,
    PlatformTemporaryError,
    get_client,
)
from integrations.shopify.client import ShopifyClient

DOMAIN, TOKEN, VERSION = "demo-shop.myshopify.com", "shpat_test_token", "2025-10"
STARTS = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
ENDS = datetime(2026, 12, 23, 18, 0, tzinfo=UTC)
SPEC = DiscountSpec(code="LL-ABCDEFGHJK", title="Loyalty reward: $5 off", kind="fixed_amount", value=500,
                    currency="USD", customer_platform_id="7001", customer_email="ada@example.test",
                    starts_at=STARTS, ends_at=ENDS, redemption_id=41)


@pytest.fixture
def admin():
    with FakeShopifyAdmin(shop=DOMAIN, access_token=TOKEN, api_version=VERSION) as fake:
        yield fake


def client_for(admin: FakeShopifyAdmin, sleeps: list[float] | None = None, token: str = TOKEN,
               api_version: str = VERSION, **kw) -> ShopifyClient:
    return ShopifyClient(DOMAIN, token, shop_origin=admin.origin_template, api_version=api_version,
                         sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def sent(admin: FakeShopifyAdmin, code: str = SPEC.code) -> dict:
    return admin.discount_input(code)


# -- what is sent ------------------------------------------------------------------------


def test_fixed_amount_is_an_amount_off_the_order_for_that_customer_once(admin):
    created = client_for(admin).create_discount(replace(SPEC, min_order_minor=2500))

    assert admin.codes() == [SPEC.code]
    assert created.platform_discount_id == admin.discounts[SPEC.code]["id"]
    assert created.code == SPEC.code
    assert admin.discounts[SPEC.code]["mutation"] == "discountCodeBasicCreate"
    assert sent(admin) == {
        "title": "Loyalty reward: $5 off",
        "code": SPEC.code,
        "startsAt": "2026-11-23T18:00:00Z",
        "endsAt": "2026-12-23T18:00:00Z",
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "combinesWith": {"orderDiscounts": False, "productDiscounts": False, "shippingDiscounts": False},
        "context": {"customers": {"add": ["gid://shopify/Customer/7001"]}},
        "minimumRequirement": {"subtotal": {"greaterThanOrEqualToSubtotal": "25.00"}},
        "customerGets": {"value": {"discountAmount": {"amount": "5.00", "appliesOnEachItem": False}},
                         "items": {"all": True}},
    }


def test_amounts_follow_the_currency_minor_units(admin):
    client_for(admin).create_discount(replace(SPEC, value=1500, currency="JPY"))
    assert sent(admin)["customerGets"]["value"]["discountAmount"]["amount"] == "1500"


def test_percentage_is_sent_as_a_fraction_and_combination_flags_follow_the_reward(admin):
    client_for(admin).create_discount(replace(SPEC, kind="percentage", value=15, combines_with_other_discounts=True))

    data = sent(admin)
    assert data["customerGets"] == {"value": {"percentage": 0.15}, "items": {"all": True}}
    assert data["combinesWith"] == {"orderDiscounts": True, "productDiscounts": True, "shippingDiscounts": True}
    assert "minimumRequirement" not in data


def test_free_shipping_uses_the_free_shipping_mutation(admin):
    created = client_for(admin).create_discount(replace(SPEC, kind="free_shipping", value=0))

    stored = admin.discounts[SPEC.code]
    assert stored["mutation"] == "discountCodeFreeShippingCreate"
    assert created.platform_discount_id == stored["id"]
    data = sent(admin)
    assert data["destination"] == {"all": True}
    assert "customerGets" not in data
    assert data["usageLimit"] == 1 and data["appliesOncePerCustomer"] is True
    assert data["context"] == {"customers": {"add": ["gid://shopify/Customer/7001"]}}


def test_free_product_is_everything_off_that_one_variant(admin):
    client_for(admin).create_discount(replace(SPEC, kind="free_product", value=44556677))

    assert sent(admin)["customerGets"] == {
        "value": {"percentage": 1.0},
        "items": {"products": {"productVariantsToAdd": ["gid://shopify/ProductVariant/44556677"]}},
    }


def test_before_2025_10_the_customer_goes_in_customer_selection():
    with FakeShopifyAdmin(shop=DOMAIN, access_token=TOKEN, api_version="2025-07") as old:
        client_for(old, api_version="2025-07").create_discount(SPEC)
        data = sent(old)
    assert data["customerSelection"] == {"customers": {"add": ["gid://shopify/Customer/7001"]}}
    assert "context" not in data


def test_a_discount_without_the_shopify_customer_is_refused_before_asking(admin):
    with pytest.raises(DiscountRejected, match="Shopify customer id"):
        client_for(admin).create_discount(replace(SPEC, customer_platform_id=None))
    assert admin.requests == []


# -- failures ----------------------------------------------------------------------------


def test_a_wrong_token_is_an_auth_error_and_creates_nothing(admin):
    with pytest.raises(PlatformAuthError, match="reinstall"):
        client_for(admin, token="shpat_revoked").create_discount(SPEC)
    assert admin.codes() == []
    assert [r["status"] for r in admin.requests] == [401]


def test_an_existing_code_is_reported_as_taken_with_its_discount_id(admin):
    first = client_for(admin).create_discount(SPEC)

    with pytest.raises(DiscountCodeTaken) as caught:
        client_for(admin).create_discount(SPEC)

    assert caught.value.platform_discount_id == first.platform_discount_id
    assert admin.codes() == [SPEC.code]
    errors = [r["data"]["discountCodeBasicCreate"]["userErrors"] for r in admin.requests
              if r.get("data") and "discountCodeBasicCreate" in r["data"]]
    assert errors[-1] == [{"field": ["basicCodeDiscount", "code"], "message": CODE_TAKEN_MESSAGE, "code": "TAKEN"}]


def test_the_unique_code_message_alone_also_counts_as_taken(admin):
    client_for(admin).create_discount(SPEC)
    admin.reject_next(user_errors=[{"field": ["basicCodeDiscount", "code"], "message": CODE_TAKEN_MESSAGE,
                                    "code": None}])
    with pytest.raises(DiscountCodeTaken) as caught:
        client_for(admin).create_discount(SPEC)
    assert caught.value.platform_discount_id == admin.discounts[SPEC.code]["id"]


def test_other_user_errors_are_a_final_rejection(admin):
    admin.reject_next()
    with pytest.raises(DiscountRejected, match="Value must be greater than 0") as caught:
        client_for(admin).create_discount(SPEC)
    assert not isinstance(caught.value, DiscountCodeTaken)
    assert admin.codes() == []


def test_throttling_is_waited_out_by_the_cost_rule(admin):
    admin.throttle_next(1, currently_available=2.0)
    sleeps: list[float] = []

    client_for(admin, sleeps).create_discount(SPEC)

    assert sleeps == [pytest.approx((10 - 2.0) / admin.restore_rate, abs=0.1)]
    assert admin.codes() == [SPEC.code]


def test_http_429_is_waited_out_per_retry_after(admin):
    admin.rate_limit_next(1, retry_after="1.5")
    sleeps: list[float] = []
    client_for(admin, sleeps).create_discount(SPEC)
    assert sleeps == [1.5]
    assert admin.codes() == [SPEC.code]


def test_server_errors_past_the_retries_are_temporary(admin):
    admin.fail_next(10, status=503)
    with pytest.raises(PlatformTemporaryError, match="HTTP 503"):
        client_for(admin).create_discount(SPEC)
    assert admin.codes() == []


def test_a_timeout_is_temporary_and_a_later_attempt_finds_the_code_that_landed(admin):
    admin.slow_next(4, seconds=1.0)  # every attempt answers too late; the first one did create
    with pytest.raises(PlatformTemporaryError, match="unreachable"):
        client_for(admin, timeout=0.2).create_discount(SPEC)
    assert admin.codes() == [SPEC.code]

    with pytest.raises(DiscountCodeTaken) as caught:
        client_for(admin).create_discount(SPEC)
    assert caught.value.platform_discount_id == admin.discounts[SPEC.code]["id"]


# -- expiring tokens ---------------------------------------------------------------------


@pytest.fixture
def token_shop(factory):
    return factory.shop("shopify", domain=DOMAIN,
                        credentials={"access_token": TOKEN, "refresh_token": "shprt_first"})


@pytest.fixture
def refreshing_admin(settings):
    with FakeShopifyAdmin(shop=DOMAIN, access_token=TOKEN, api_version=VERSION, refresh_token="shprt_first",
                          client_id=settings.shopify_api_key, client_secret=settings.shopify_api_secret) as fake:
        yield fake


def shopify_client(shop, settings, admin, pg_db):
    overrides = settings.with_overrides(shopify_shop_origin=admin.origin_template, shopify_api_version=VERSION)
    return get_client(shop, overrides, sleep=lambda s: None, db=pg_db)


def stored_credentials(pg_db, shop_id: int) -> dict:
    with pg_db.session() as s:
        return s.get(Shop, shop_id).credentials


def test_an_expired_token_is_refreshed_once_stored_encrypted_and_the_code_created(
        token_shop, refreshing_admin, settings, pg_db):
    refreshing_admin.expire_token()

    created = shopify_client(token_shop, settings, refreshing_admin, pg_db).create_discount(SPEC)

    assert created.platform_discount_id == refreshing_admin.discounts[SPEC.code]["id"]
    assert [(r["grant_type"], r["client_id"]) for r in refreshing_admin.refreshes] == \
        [("refresh_token", settings.shopify_api_key)]
    credentials = stored_credentials(pg_db, token_shop.id)
    assert credentials["access_token"] == refreshing_admin.access_token != TOKEN
    assert credentials["refresh_token"] == refreshing_admin.refresh_token != "shprt_first"
    assert datetime.fromisoformat(credentials["expires_at"]) > datetime.now(UTC)
    with pg_db.session() as s:
        raw = s.execute(text("SELECT credentials FROM shops WHERE id = :id"), {"id": token_shop.id}).scalar_one()
    assert refreshing_admin.access_token not in str(raw) and refreshing_admin.refresh_token not in str(raw)


def test_a_token_refused_again_after_the_refresh_is_an_auth_error(token_shop, refreshing_admin, settings, pg_db):
    refreshing_admin.expire_token(refreshed_token_works=False)

    with pytest.raises(PlatformAuthError, match="reinstall"):
        shopify_client(token_shop, settings, refreshing_admin, pg_db).create_discount(SPEC)

    assert len(refreshing_admin.refreshes) == 1
    assert refreshing_admin.codes() == []


def test_without_a_refresh_token_a_refused_token_is_an_auth_error(factory, refreshing_admin, settings, pg_db):
    shop = factory.shop("shopify", domain=DOMAIN, credentials={"access_token": TOKEN})
    refreshing_admin.expire_token()

    with pytest.raises(PlatformAuthError):
        shopify_client(shop, settings, refreshing_admin, pg_db).create_discount(SPEC)
    assert refreshing_admin.refreshes == []


def test_a_refresh_token_shopify_refuses_is_an_auth_error(factory, refreshing_admin, settings, pg_db):
    shop = factory.shop("shopify", domain=DOMAIN, credentials={"access_token": TOKEN, "refresh_token": "shprt_old"})
    refreshing_admin.expire_token()

    with pytest.raises(PlatformAuthError, match="refused the request to refresh"):
        shopify_client(shop, settings, refreshing_admin, pg_db).create_discount(SPEC)
    assert stored_credentials(pg_db, shop.id)["refresh_token"] == "shprt_old"
