"""The storefront API as a shopper's widget uses it: balance, rewards, history, redeeming,
CORS for the shop's own pages only, and rate limits."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from redemption_helpers import balance, make_reward, redemptions_of, violations
from redemption_platforms import shopify_store

from app import create_app
from app.models import Shop
from widgets.identity import sign_app_proxy, sign_storefront

API = "/storefront/v1"


def signed(shop, customer_platform_id):
    ts = int(datetime.now(UTC).timestamp())
    out = {
        "X-Loyalty-Shop": str(shop.id),
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(
            shop.id, customer_platform_id, ts, shop.widget_secret_value()
        ),
    }
    if customer_platform_id is not None:
        out["X-Loyalty-Customer"] = customer_platform_id
    return out


@pytest.fixture
def shop(factory):
    return factory.shop("woocommerce")


@pytest.fixture
def member(factory, shop):
    customer = factory.customer(shop, platform_id="9001")
    factory.points(shop, customer, 400, kind="earn_order", reason="order #1")
    factory.points(shop, customer, 120, kind="earn_order", pending=True, reason="order #2")
    return customer


def test_me_shows_the_same_balance_as_the_admin_api(client, factory, shop, member):
    _, token = factory.staff(shop, "viewer")
    staff = client.get(
        f"/admin/api/v1/customers/{member.id}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    me = client.get(f"{API}/me", headers=signed(shop, "9001")).get_json()
    assert me["guest"] is False and me["member"] is True
    for name in ("points_balance", "pending_points", "lifetime_points", "tier"):
        assert me[name] == staff[name], name
    assert (me["points_balance"], me["pending_points"]) == (400, 120)
    assert me["referral_url"] is None and me["currency"] == "USD"


def test_me_never_shows_another_shoppers_data(client, factory, shop, member):
    other_shop = factory.shop("woocommerce")
    twin = factory.customer(other_shop, platform_id="9001")  # same platform id, other shop
    factory.points(other_shop, twin, 7)
    assert client.get(f"{API}/me", headers=signed(other_shop, "9001")).get_json()["points_balance"] == 7
    unknown = client.get(f"{API}/me", headers=signed(shop, "9002")).get_json()
    assert (unknown["member"], unknown["points_balance"]) == (False, 0)


def test_rewards_say_what_the_shopper_can_afford(client, pg_db, factory, shop, member):
    cheap = make_reward(pg_db, shop, name="cheap", points_cost=400)
    dear = make_reward(pg_db, shop, name="dear", points_cost=401)
    make_reward(pg_db, shop, name="off", points_cost=10, active=False)
    gold = make_reward(pg_db, shop, name="gold only", points_cost=10, tiers=["gold"])
    variable = make_reward(pg_db, shop, name="var", kind="variable_amount", points_cost=100,
                           value=100, min_points=500, max_points=1000)
    make_reward(pg_db, factory.shop("woocommerce"), name="elsewhere", points_cost=1)

    body = client.get(f"{API}/rewards", headers=signed(shop, "9001")).get_json()
    rows = {r["name"]: r for r in body["data"]}
    assert set(rows) == {"cheap", "dear", "gold only", "var"}
    assert (rows["cheap"]["affordable"], rows["cheap"]["redeemable"]) == (True, True)
    assert (rows["dear"]["affordable"], rows["dear"]["redeemable"]) == (False, False)
    assert rows["dear"]["reason"]
    assert rows["gold only"]["redeemable"] is False and rows["gold only"]["reason"]
    assert rows["var"]["affordable"] is False  # the smallest step is 500 points
    assert rows["cheap"]["id"] == cheap.id and rows["dear"]["id"] == dear.id
    assert rows["var"]["id"] == variable.id and rows["gold only"]["id"] == gold.id

    guest = client.get(f"{API}/rewards", headers=signed(shop, None)).get_json()["data"]
    assert {r["name"] for r in guest} == set(rows)
    assert not any(r["affordable"] or r["redeemable"] for r in guest)


def test_history_is_newest_first_and_paginated(client, factory, shop, member):
    factory.points(shop, member, -50, kind="adjust", reason="staff note: goodwill fix")
    headers = signed(shop, "9001")
    first = client.get(f"{API}/history?limit=2", headers=headers).get_json()
    assert [e["points"] for e in first["data"]] == [-50, 120]
    assert first["data"][0]["reason"] is None  # staff notes stay internal
    assert first["data"][1]["status"] == "pending"
    second = client.get(
        f"{API}/history", query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).get_json()
    assert [e["points"] for e in second["data"]] == [400] and second["next_cursor"] is None
    assert second["data"][0]["reason"] == "order #1"

    assert client.get(f"{API}/history", headers=signed(shop, None)).status_code == 401
    bad = client.get(f"{API}/history?cursor=!!!", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_cursor"
    assert client.get(f"{API}/history?limit=0", headers=headers).status_code == 422


# -- redeeming ------------------------------------------------------------------------------------


@pytest.fixture
def store(factory, settings, pg_db):
    store = shopify_store(factory, settings, pg_db)
    yield store
    store.admin.__exit__(None, None, None)


@pytest.fixture
def store_client(store, pg_db):
    app = create_app(store.settings, db=pg_db)
    app.testing = True
    return app.test_client()


def test_redeeming_gives_one_code_and_history_shows_it(store_client, store, factory, pg_db):
    shopper = factory.customer(store.shop, platform_id="7001")
    factory.points(store.shop, shopper, 300)
    reward = make_reward(pg_db, store.shop, points_cost=100, value=500)
    headers = signed(store.shop, "7001") | {"Idempotency-Key": "click-1"}

    r = store_client.post(f"{API}/redemptions", json={"reward_id": reward.id}, headers=headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "issued" and body["points_balance"] == 200
    assert store.admin.codes() == [body["code"]]

    again = store_client.post(f"{API}/redemptions", json={"reward_id": reward.id}, headers=headers)
    assert again.get_json()["code"] == body["code"] and again.get_json()["points_balance"] == 200
    assert balance(pg_db, shopper) == 200 and len(redemptions_of(pg_db, store.shop)) == 1
    assert violations(pg_db, store.shop) == []

    history = store_client.get(f"{API}/history", headers=signed(store.shop, "7001")).get_json()
    spent = history["data"][0]
    assert spent["points"] == -100 and spent["kind"] == "redeem"
    assert spent["redemption"]["code"] == body["code"] and spent["redemption"]["status"] == "issued"


def test_redeeming_through_the_app_proxy(store_client, store, factory, pg_db):
    shopper = factory.customer(store.shop, platform_id="7002")
    factory.points(store.shop, shopper, 150)
    reward = make_reward(pg_db, store.shop, points_cost=100, value=500)
    params = [
        ("shop", store.shop.domain),
        ("logged_in_customer_id", "7002"),
        ("path_prefix", "/apps/loyalty"),
        ("timestamp", str(int(datetime.now(UTC).timestamp()))),
    ]
    query = urlencode([*params, ("signature", sign_app_proxy(params, store.settings.shopify_api_secret))])
    r = store_client.post(f"/proxy/v1/redemptions?{query}", json={"reward_id": reward.id},
                          headers={"Idempotency-Key": "proxy-1"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["points_balance"] == 50 and store.admin.codes() == [r.get_json()["code"]]


def test_redemption_errors(store_client, store, factory, pg_db):
    shopper = factory.customer(store.shop, platform_id="7003")
    factory.points(store.shop, shopper, 50)
    reward = make_reward(pg_db, store.shop, points_cost=100, value=500)
    other_reward = make_reward(pg_db, factory.shop("shopify"), points_cost=1, value=1)
    headers = signed(store.shop, "7003")

    def post(body, extra=None, who=headers):
        return store_client.post(f"{API}/redemptions", json=body, headers=who | (extra or {}))

    assert post({"reward_id": reward.id}).status_code == 422  # no Idempotency-Key
    for key in ("", "x" * 129, "has space", "ü"):
        assert post({"reward_id": reward.id}, {"Idempotency-Key": key}).status_code == 422
    key = {"Idempotency-Key": "k"}
    poor = post({"reward_id": reward.id}, key)
    assert poor.status_code == 422 and poor.get_json()["error"]["code"] == "insufficient_points"
    assert post({"reward_id": other_reward.id}, {"Idempotency-Key": "k2"}).status_code == 404
    assert post({"reward_id": "1"}, key).status_code == 422
    assert post({"reward_id": reward.id, "extra": 1}, key).status_code == 422
    guest = post({"reward_id": reward.id}, key, who=signed(store.shop, None))
    assert guest.status_code == 401
    stranger = post({"reward_id": reward.id}, key, who=signed(store.shop, "7999"))
    assert stranger.status_code == 404 and stranger.get_json()["error"]["code"] == "customer_not_found"
    assert balance(pg_db, shopper) == 50 and store.admin.codes() == []


# -- CORS -----------------------------------------------------------------------------------------


def test_cors_only_for_the_shops_own_origins(client, pg_db, factory):
    shop = factory.shop("woocommerce", domain="https://store.example")
    with pg_db.transaction() as s:
        s.get(Shop, shop.id).storefront_origins = ["https://shop.example.org"]
    factory.customer(shop, platform_id="1")
    stranger_shop = factory.shop("shopify")
    headers = signed(shop, "1")

    for origin in ("https://store.example", "https://shop.example.org"):
        r = client.get(f"{API}/me", headers=headers | {"Origin": origin})
        assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == origin
        pre = client.options(f"{API}/redemptions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-loyalty-signature, idempotency-key, content-type",
        })
        assert pre.headers["Access-Control-Allow-Origin"] == origin
        assert "Idempotency-Key" in pre.headers["Access-Control-Allow-Headers"]
        assert "POST" in pre.headers["Access-Control-Allow-Methods"]

    shopify_origin = f"https://{stranger_shop.domain}"  # allowed for its own shop only
    for origin in ("https://evil.example", shopify_origin, "null"):
        r = client.get(f"{API}/me", headers=headers | {"Origin": origin})
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    pre = client.options(f"{API}/me", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers
    own = client.get(f"{API}/me", headers=signed(stranger_shop, None) | {"Origin": shopify_origin})
    assert own.headers["Access-Control-Allow-Origin"] == shopify_origin
    # An error the widget must read (a stale page) carries the header too.
    bad = client.get(f"{API}/me", headers=headers | {"X-Loyalty-Customer": "2", "Origin": "https://store.example"})
    assert bad.status_code == 401 and bad.headers["Access-Control-Allow-Origin"] == "https://store.example"


# -- rate limits ------------------------------------------------------------------------------------


def limited_client(settings, pg_db, **limits):
    app = create_app(settings.with_overrides(extra=limits), db=pg_db)
    app.testing = True
    return app.test_client()


def test_per_shopper_limit_answers_429_json(settings, pg_db, factory, shop, member):
    client = limited_client(settings, pg_db, storefront_shopper_limit="3/minute")
    for _ in range(3):
        assert client.get(f"{API}/me", headers=signed(shop, "9001")).status_code == 200
    r = client.get(f"{API}/rewards", headers=signed(shop, "9001"))
    assert r.status_code == 429
    assert r.get_json()["error"]["code"] == "too_many_requests" and int(r.headers["Retry-After"]) >= 1
    # Another shopper of the same shop is not held back.
    assert client.get(f"{API}/me", headers=signed(shop, "9002")).status_code == 200


def test_per_ip_limit_answers_429_json(settings, pg_db, factory, shop, member):
    client = limited_client(settings, pg_db, storefront_ip_limit="2/minute")
    assert client.get(f"{API}/me", headers=signed(shop, "9001")).status_code == 200
    assert client.get(f"{API}/me", headers=signed(shop, "9002")).status_code == 200
    r = client.get(f"{API}/me", headers=signed(shop, "9003"))
    assert r.status_code == 429 and set(r.get_json()["error"]) >= {"code", "message"}
    other_ip = client.get(f"{API}/me", headers=signed(shop, "9003"),
                          environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_ip.status_code == 200


def test_limits_are_kept_in_redis_when_configured(settings, pg_db, redis_url, shop, member):
    client = limited_client(settings, pg_db, storefront_shopper_limit="1/minute",
                            storefront_rate_limit_storage=redis_url)
    assert client.get(f"{API}/me", headers=signed(shop, "9001")).status_code == 200
    # A second app (another web process) shares the count through Redis.
    second = limited_client(settings, pg_db, storefront_shopper_limit="1/minute",
                            storefront_rate_limit_storage=redis_url)
    assert second.get(f"{API}/me", headers=signed(shop, "9001")).status_code == 429
