""""Earn N points with this purchase": the estimate a product page and a cart show, for a
guest, a member, a member with a tier bonus, under both storefront prefixes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from widgets import estimate as estimate_module
from widgets.identity import sign_app_proxy, sign_storefront

API = "/storefront/v1"


def signed(shop, customer_platform_id):
    ts = int(datetime.now(UTC).timestamp())
    headers = {
        "X-Loyalty-Shop": str(shop.id),
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop.id, customer_platform_id, ts, shop.widget_secret_value()),
    }
    if customer_platform_id:
        headers["X-Loyalty-Customer"] = customer_platform_id
    return headers


@pytest.fixture
def shop(factory):
    # 1.5 points per dollar: fractions show the rounding.
    return factory.shop("woocommerce", program={"points_per_unit": "1.5"})


def test_a_guest_sees_the_base_rate(client, shop):
    r = client.get(f"{API}/estimate?amount=2599", headers=signed(shop, None))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    # 25.99 USD × 1.5 = 38.985 → 38, rounded down like the order ledger
    assert body["points"] == 38
    assert (body["amount_minor"], body["currency"], body["guest"]) == (2599, "USD", True)
    assert (body["points_per_unit"], body["tier_multiplier"], body["tier"]) == ("1.5", "1", None)


def test_a_decimal_amount_is_read_in_major_units(client, shop):
    as_decimal = client.get(f"{API}/estimate?amount=25.99", headers=signed(shop, None)).get_json()
    as_minor = client.get(f"{API}/estimate?amount=2599", headers=signed(shop, None)).get_json()
    assert as_decimal == as_minor
    assert client.get(f"{API}/estimate?amount=12.5", headers=signed(shop, None)).get_json()["amount_minor"] == 1250


def test_a_member_without_a_tier_bonus_earns_the_base_rate(client, factory, shop):
    factory.customer(shop, platform_id="501")
    body = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, "501")).get_json()
    assert (body["points"], body["guest"]) == (150, False)


def test_a_members_tier_multiplier_is_applied(client, factory, shop, monkeypatch):
    factory.customer(shop, platform_id="502", tier="gold")
    seen = []

    def gold_bonus(customer):
        seen.append((customer.platform_id, customer.shop_id))
        return Decimal("1.25")

    monkeypatch.setattr(estimate_module, "_multiplier_for_customer", gold_bonus)
    body = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, "502")).get_json()
    # 100.00 × 1.5 × 1.25 = 187.5 → 187
    assert (body["points"], body["tier"], body["tier_multiplier"]) == (187, "gold", "1.25")
    assert seen == [("502", shop.id)]
    guest = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, None)).get_json()
    assert guest["points"] == 150 and len(seen) == 1  # a guest never gets a tier's bonus


def test_the_real_tier_multiplier_of_the_shoppers_tier(client, factory, shop, pg_db):
    from app.models.tier import Tier

    with pg_db.transaction() as s:
        s.add(Tier(shop_id=shop.id, key="gold", name="Gold", threshold_kind="points_earned",
                   threshold_value=1000, window="lifetime", rank=1, earn_multiplier=Decimal("2")))
        s.add(Tier(shop_id=shop.id, key="retired", name="Retired", threshold_kind="points_earned",
                   threshold_value=5000, window="lifetime", rank=2, earn_multiplier=Decimal("3"),
                   active=False))
    factory.customer(shop, platform_id="503", tier="gold")
    factory.customer(shop, platform_id="504", tier="retired")
    factory.customer(shop, platform_id="505")

    gold = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, "503")).get_json()
    assert (gold["points"], gold["tier_multiplier"], gold["tier"]) == (300, "2", "gold")  # 100 × 1.5 × 2
    retired = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, "504")).get_json()
    assert (retired["points"], retired["tier_multiplier"]) == (150, "1")  # a switched-off tier
    plain = client.get(f"{API}/estimate?amount=10000", headers=signed(shop, "505")).get_json()
    assert plain["points"] == 150


def test_currency_without_decimals(client, factory):
    shop = factory.shop("woocommerce", currency="JPY", program={"points_per_unit": "0.01"})
    body = client.get(f"{API}/estimate?amount=2599", headers=signed(shop, None)).get_json()
    assert (body["points"], body["amount_minor"]) == (25, 2599)
    r = client.get(f"{API}/estimate?amount=25.99", headers=signed(shop, None))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_amount"


@pytest.mark.parametrize("amount", ["", "-5", "abc", "1e5", "12.345", "1,5", "0x10", "9" * 16, " "])
def test_a_bad_amount_is_422_json(client, shop, amount):
    r = client.get(f"{API}/estimate?{urlencode({'amount': amount})}", headers=signed(shop, None))
    assert r.status_code == 422, (amount, r.get_json())
    assert r.is_json and r.get_json()["error"]["code"] in {"invalid_amount", "validation_failed"}


def test_a_missing_amount_is_422_and_no_signature_is_401(client, shop):
    assert client.get(f"{API}/estimate", headers=signed(shop, None)).status_code in {400, 422}
    r = client.get(f"{API}/estimate?amount=100")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "invalid_storefront_signature"


def test_the_estimate_through_the_app_proxy(client, factory, settings):
    shop = factory.shop("shopify", program={"points_per_unit": "2"})
    factory.customer(shop, platform_id="77")
    params = [
        ("shop", shop.domain),
        ("logged_in_customer_id", "77"),
        ("path_prefix", "/apps/loyalty"),
        ("timestamp", str(int(datetime.now(UTC).timestamp()))),
        ("amount", "1999"),
    ]
    query = urlencode([*params, ("signature", sign_app_proxy(params, settings.shopify_api_secret))])
    r = client.get(f"/proxy/v1/estimate?{query}")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["points"], r.get_json()["guest"]) == (39, False)  # 19.99 × 2


def test_points_for_matches_the_order_ledger_rounding():
    # The same integers as compute_target: floor(amount × rate / unit).
    assert estimate_module.points_for(999, "USD", Decimal("1"), Decimal(1)) == 9
    assert estimate_module.points_for(1000, "KWD", Decimal("1"), Decimal(1)) == 1
    assert estimate_module.points_for(333, "USD", Decimal("0.3333"), Decimal("3")) == 3
