"""Shopify's checkout session token: what we accept (HS256 with the app secret, our API
key as `aud`, a myshopify `dest`, inside `nbf`..`exp`) and everything we refuse; and the
`/checkout/v1` API a checkout UI extension calls with it."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from redemption_helpers import make_reward
from redemption_platforms import shopify_store

from app import create_app
from widgets import checkout
from widgets.checkout_token import CheckoutTokenError, bearer_token, verify_checkout_token

API_KEY = "test-api-key"
SECRET = "shpss_test_app_secret_0123456789abcdef"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHOP = "demo-shop.myshopify.com"
OLD_SECRET = "shpss_previous_secret_0123456789abcdefgh"


def claims(now=NOW, **overrides):
    t = int(now.timestamp())
    base = {
        "iss": f"https://{SHOP}/admin",
        "dest": SHOP,
        "aud": API_KEY,
        "sub": "gid://shopify/Customer/4711",
        "exp": t + 300,
        "nbf": t - 5,
        "iat": t - 5,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(secret=SECRET, algorithm="HS256", **overrides):
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


def check(tok, now=NOW, **kw):
    return verify_checkout_token(tok, api_key=API_KEY, secrets=[SECRET], now=now, **kw)


def test_a_valid_token_names_the_shop_and_the_customer():
    identity = check(token())
    assert (identity.shop_domain, identity.customer_platform_id) == (SHOP, "4711")
    assert identity.claims["aud"] == API_KEY


def test_dest_with_a_scheme_and_a_guest_without_sub():
    identity = check(token(dest=f"https://{SHOP.upper()}", sub=None))
    assert (identity.shop_domain, identity.customer_platform_id) == (SHOP, None)


def test_the_previous_secret_works_during_a_rotation():
    identity = verify_checkout_token(token(secret=OLD_SECRET), api_key=API_KEY, secrets=[SECRET, OLD_SECRET], now=NOW)
    assert identity.customer_platform_id == "4711"


def refused(tok, *, code="invalid_session_token", now=NOW, **kw):
    with pytest.raises(CheckoutTokenError) as caught:
        check(tok, now=now, **kw)
    assert caught.value.status == 401
    assert caught.value.code == code
    return caught.value


def test_wrong_secret():
    refused(token(secret="shpss_another_apps_secret_0123456789ab"))


def test_wrong_audience():
    refused(token(aud="another-apps-key"))
    refused(token(aud=None))  # aud is required


def test_wrong_dest():
    refused(token(dest="evil.example.com"))
    refused(token(dest="https://evil.example.com/admin"))
    refused(token(dest=None))
    refused(token(dest=12345))
    refused(token(), expected_shop_domain="other-shop.myshopify.com")


def test_expired_with_a_little_leeway():
    t = int(NOW.timestamp())
    assert check(token(exp=t - 5)).shop_domain == SHOP  # within 10 s of leeway
    refused(token(exp=t - 11), code="expired_session_token")
    refused(token(exp=None))  # exp is required


def test_not_valid_yet():
    t = int(NOW.timestamp())
    assert check(token(nbf=t + 5)).shop_domain == SHOP
    refused(token(nbf=t + 60))
    refused(token(nbf=None))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused():
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    refused(unsigned)
    refused(unsigned + "c2ln")


def test_other_algorithms_are_refused():
    long_key = SECRET * 2  # long enough for HS512, so only the algorithm differs
    with pytest.raises(CheckoutTokenError):
        verify_checkout_token(token(secret=long_key, algorithm="HS512"), api_key=API_KEY, secrets=[long_key], now=NOW)
    with pytest.raises(CheckoutTokenError):
        verify_checkout_token(token(secret=long_key, algorithm="HS384"), api_key=API_KEY, secrets=[long_key], now=NOW)


def test_a_tampered_payload_is_refused():
    header, _, signature = token().split(".")
    forged = f"{header}.{b64(claims(sub='gid://shopify/Customer/1'))}.{signature}"
    refused(forged)


@pytest.mark.parametrize("sub", ["gid://shopify/Order/1", "4711", "gid://shopify/Customer/", "gid://shopify/Customer/1:2"])
def test_a_subject_that_is_not_a_customer_is_refused(sub):
    refused(token(sub=sub))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "..", "x" * 10000, "eyJhbGciOi.eyJ.sig"])
def test_garbage_is_one_error(garbage):
    with pytest.raises(CheckoutTokenError):
        check(garbage)


def test_not_configured_refuses_everything():
    with pytest.raises(CheckoutTokenError):
        verify_checkout_token(token(), api_key=API_KEY, secrets=[], now=NOW)
    with pytest.raises(CheckoutTokenError):
        verify_checkout_token(token(), api_key="", secrets=[SECRET], now=NOW)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer  ", "token abc"])
def test_bearer_header_is_required(header):
    with pytest.raises(CheckoutTokenError):
        bearer_token(header)


def test_bearer_header():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer abc") == "abc"


# -- /checkout/v1 -------------------------------------------------------------------------------


LONG_APP_SECRET = "shpss_store_app_secret_0123456789abcdef"


def make_app(settings, db):
    flask_app = create_app(settings, db=db)
    if "checkout" not in flask_app.blueprints:  # until widgets.checkout is in create_app's list
        checkout.init_app(flask_app)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def store(factory, settings, pg_db):
    store = shopify_store(factory, settings.with_overrides(shopify_api_secret=LONG_APP_SECRET), pg_db)
    yield store
    store.admin.__exit__(None, None, None)


@pytest.fixture
def store_client(store, pg_db):
    return make_app(store.settings, pg_db).test_client()


def bearer(store, customer_id: str | None, **overrides):
    now = datetime.now(UTC)
    sub = f"gid://shopify/Customer/{customer_id}" if customer_id else None
    fields = {"dest": store.shop.domain, "aud": store.settings.shopify_api_key, "sub": sub} | overrides
    tok = jwt.encode(
        claims(now=now, **fields),
        store.settings.shopify_api_secret,
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {tok}"}


def test_checkout_me_shows_the_balance(store_client, store, factory):
    shopper = factory.customer(store.shop, platform_id="8001")
    factory.points(store.shop, shopper, 340)
    r = store_client.get("/checkout/v1/me", headers=bearer(store, "8001") | {"Origin": "https://extensions.shopifycdn.com"})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["guest"], r.get_json()["points_balance"]) == (False, 340)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers

    guest = store_client.get("/checkout/v1/me", headers=bearer(store, None)).get_json()
    assert guest["guest"] is True and guest["points_balance"] is None


def test_checkout_redeems_with_the_session_token(store_client, store, factory, pg_db):
    shopper = factory.customer(store.shop, platform_id="8002")
    factory.points(store.shop, shopper, 250)
    reward = make_reward(pg_db, store.shop, points_cost=100, value=500)
    headers = bearer(store, "8002") | {"Idempotency-Key": "checkout-1"}
    r = store_client.post("/checkout/v1/redemptions", json={"reward_id": reward.id}, headers=headers)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["points_balance"] == 150 and store.admin.codes() == [r.get_json()["code"]]
    estimate = store_client.get("/checkout/v1/estimate?amount=5000", headers=bearer(store, "8002")).get_json()
    assert estimate["points"] == 50


def test_checkout_refuses_bad_tokens_with_401_json(store_client, store, factory):
    factory.customer(store.shop, platform_id="8003")
    cases = [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        bearer(store, "8003", aud="someone-else"),
        bearer(store, "8003", exp=int(datetime.now(UTC).timestamp()) - 120),
        bearer(store, "8003", dest="not-installed.myshopify.com"),
    ]
    for headers in cases:
        r = store_client.get("/checkout/v1/me", headers=headers)
        assert r.status_code == 401, (headers, r.get_json())
        assert r.get_json()["error"]["code"] in {"invalid_session_token", "expired_session_token", "unknown_shop"}
    # the storefront's signed headers do not open /checkout/v1, nor the token /storefront/v1
    assert store_client.get("/storefront/v1/me", headers=bearer(store, "8003")).status_code == 401


def test_checkout_preflight_allows_the_authorization_header(store_client):
    r = store_client.options(
        "/checkout/v1/me",
        headers={"Origin": "https://extensions.shopifycdn.com", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code in {200, 204}
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_expired_token_against_now(store):
    # verify against an explicit clock: the same token is fine now and stale ten minutes on
    tok = bearer(store, "1")["Authorization"].split()[1]
    later = datetime.now(UTC) + timedelta(minutes=10)
    kw = dict(api_key=store.settings.shopify_api_key, secrets=[store.settings.shopify_api_secret])
    assert verify_checkout_token(tok, now=datetime.now(UTC), **kw).customer_platform_id == "1"
    with pytest.raises(CheckoutTokenError):
        verify_checkout_token(tok, now=later, **kw)


def test_checkout_routes_are_in_the_openapi_document(settings, pg_db):
    from app.openapi import build_spec, undocumented_rules

    flask_app = make_app(settings, pg_db)
    assert undocumented_rules(flask_app) == []
    spec = build_spec(flask_app)
    for path in ("/checkout/v1/me", "/checkout/v1/rewards", "/checkout/v1/estimate", "/storefront/v1/estimate",
                 "/proxy/v1/estimate"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/checkout/v1/redemptions"]
    operation_ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()
                     if isinstance(op, dict) and "operationId" in op]
    assert len(operation_ids) == len(set(operation_ids))
