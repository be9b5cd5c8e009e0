"""Opening the app from Shopify's admin on a shop not installed here (yet, or any more):
the console installs it through token exchange against a local fake of Shopify's token
endpoint and Admin API, then signs the user in; a token Shopify refuses installs nothing."""

from __future__ import annotations

import time

import jwt
import pytest
from fakes.shopify_oauth import FakeShopifyOAuth
from sqlalchemy import select

from app.models import Shop, StaffUser

SHOP, VERSION = "fjord-gear.myshopify.com", "2025-10"
HTTPS = "https://loyalty.test"
KEY, SECRET = "embedded-test-key", "shpss_embedded_test_secret_0123456789ab"


@pytest.fixture
def fake_shop():
    with FakeShopifyOAuth(shop=SHOP, api_version=VERSION, client_id=KEY, client_secret=SECRET) as fake:
        yield fake


@pytest.fixture
def embedded_app(settings, pg_db, fake_shop):
    from app import create_app

    flask_app = create_app(settings.with_overrides(
        app_url="https://loyalty.test", shopify_api_key=KEY, shopify_api_secret=SECRET,
        shopify_shop_origin=fake_shop.origin_template, shopify_api_version=VERSION), db=pg_db)
    flask_app.testing = True
    return flask_app


def session_token(**overrides) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{SHOP}/admin", "dest": f"https://{SHOP}", "aud": KEY, "sub": "42",
              "exp": now + 60, "nbf": now - 1, "iat": now - 1, "jti": f"jti-{time.monotonic_ns()}"}
    return jwt.encode({**claims, **overrides}, SECRET, algorithm="HS256")


def shops(pg_db) -> list[Shop]:
    with pg_db.session() as s:
        return list(s.scalars(select(Shop).where(Shop.domain == SHOP)))


def test_a_token_shopify_refuses_installs_nothing(embedded_app, pg_db):
    r = embedded_app.test_client().get(f"/admin/embedded?id_token={session_token()}", base_url=HTTPS)
    assert r.status_code == 401 and "could not be installed" in r.get_data(as_text=True)
    assert shops(pg_db) == []


def test_opening_the_app_installs_the_shop_and_signs_its_owner_in(embedded_app, fake_shop, pg_db):
    token = session_token()
    fake_shop.accept_session_token(token)
    client = embedded_app.test_client()
    r = client.get(f"/admin/embedded?id_token={token}", base_url=HTTPS)
    assert r.status_code == 302, r.get_data(as_text=True)
    [shop] = shops(pg_db)
    assert shop.install_state == "installed"
    assert shop.credentials["access_token"] == fake_shop.access_token
    assert "(owner)" in client.get("/admin/customers", base_url=HTTPS).get_data(as_text=True)
    with pg_db.session() as s:
        assert [u.role for u in s.scalars(select(StaffUser).where(StaffUser.shop_id == shop.id))] == ["owner"]
