"""Shopify session tokens: what `verify_session_token` accepts and refuses, and the
console's embedded entry that signs the shop's owner (or a linked staff user) in."""

from __future__ import annotations

import time

import jwt
import pytest
import webhook_support
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from integrations.shopify.session_tokens import SessionTokenInvalid, verify_session_token

restore_runtime = webhook_support.restore_runtime  # a fixture: apps built here reconfigure the runtime

KEY, SECRET = "app-api-key", "shpss_0123456789abcdef0123456789abcdef"


def claims(shop="demo-store.myshopify.com", **overrides):
    now = int(time.time())
    base = {
        "iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": KEY, "sub": "42",
        "exp": now + 60, "nbf": now - 1, "iat": now - 1, "jti": "abc", "sid": "s1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(payload=None, secret=SECRET, alg="HS256", **overrides):
    return jwt.encode(payload or claims(**overrides), secret, algorithm=alg)


def refused(tok, match):
    with pytest.raises(SessionTokenInvalid, match=match):
        verify_session_token(tok, api_key=KEY, api_secret=SECRET)


def test_a_valid_token_gives_the_shop():
    payload = verify_session_token(token(), api_key=KEY, api_secret=SECRET)
    assert payload["shop"] == "demo-store.myshopify.com" and payload["sub"] == "42"


def test_wrong_audience():
    refused(token(aud="another-app"), "another app")
    refused(token(aud=[KEY, "x"]), "another app")


def test_expired_and_not_yet_valid():
    now = int(time.time())
    refused(token(exp=now - 10), "expired")
    refused(token(nbf=now + 30), "not valid yet")
    # Within the leeway, a clock a few seconds off is forgiven.
    assert verify_session_token(token(exp=now - 2), api_key=KEY, api_secret=SECRET)


def test_only_hs256_signed_with_our_secret():
    refused(token(secret=SECRET * 2, alg="HS512"), "HS256")
    refused(token(secret="shpss_someone-elses-secret-0123456789"), "signature")
    unsigned = jwt.encode(claims(), None, algorithm="none")
    refused(unsigned, "HS256")
    refused("not.a.jwt", "not a JWT")
    refused("", "no session token")


def test_issuer_and_destination_must_be_the_same_myshopify_shop():
    refused(token(iss="https://other-store.myshopify.com/admin"), "different shops")
    refused(token(shop="evil.example.com"), "myshopify")
    refused(token(dest="http://demo-store.myshopify.com"), "https")
    refused(token(iss="https://demo-store.myshopify.com/other"), "path")
    refused(token(dest=None), "dest")


@hsettings(max_examples=50, deadline=None)
@given(field=st.sampled_from(["aud", "iss", "dest", "sub", "exp"]), junk=st.text(max_size=20))
def test_any_change_after_signing_breaks_the_signature(field, junk):
    good = token()
    header, _, sig = good.split(".")
    forged_payload = jwt.encode({**claims(), field: junk}, "attacker-" + SECRET, algorithm="HS256").split(".")[1]
    refused(f"{header}.{forged_payload}.{sig}", "signature|HS256|claim|expired|another app|shop|URL")


@hsettings(max_examples=40, deadline=None)
@given(name=st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True))
def test_every_well_formed_shop_token_verifies_to_its_shop(name):
    shop = f"{name}.myshopify.com"
    assert verify_session_token(token(shop=shop), api_key=KEY, api_secret=SECRET)["shop"] == shop


# -- the embedded entry -------------------------------------------------------------------


@pytest.fixture
def settings(settings):
    """A real-length API secret (Shopify's are 38 characters)."""
    return settings.with_overrides(shopify_api_secret=SECRET)


@pytest.fixture
def shop(factory):
    return factory.shop("shopify")


def app_token(app, shop, **overrides):
    cfg = app.extensions["settings"]
    now = int(time.time())
    payload = {"iss": f"https://{shop.domain}/admin", "dest": f"https://{shop.domain}",
               "aud": cfg.shopify_api_key, "sub": "9001", "exp": now + 60, "nbf": now - 1}
    payload.update(overrides)
    return jwt.encode(payload, cfg.shopify_api_secret, algorithm="HS256")


def test_embedded_entry_signs_the_owner_in(app, client, factory, shop):
    owner, _ = factory.staff(shop, role="owner")
    r = client.get(f"/admin/embedded?id_token={app_token(app, shop)}")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
    assert "Content-Security-Policy" in r.headers
    page = client.get("/admin/customers").get_data(as_text=True)
    assert owner.email in page and "(owner)" in page


def test_embedded_entry_takes_a_bearer_header_and_a_linked_user(app, client, factory, pg_db, shop):
    from app.models import ShopifyStaffLink

    factory.staff(shop, role="owner")
    support, _ = factory.staff(shop, role="support")
    with pg_db.transaction() as s:
        s.add(ShopifyStaffLink(shop_id=shop.id, shopify_user_id="9001", staff_user_id=support.id))
    r = client.get("/admin/embedded", headers={"Authorization": f"Bearer {app_token(app, shop)}"})
    assert r.status_code == 302
    assert "(support)" in client.get("/admin/customers").get_data(as_text=True)


def test_embedded_entry_refuses_bad_tokens_and_unknown_shops(app, client, factory, pg_db, shop):
    from app.models import StaffUser

    factory.staff(shop, role="owner")
    r = client.get(f"/admin/embedded?id_token={app_token(app, shop, aud='other')}")
    assert r.status_code == 401 and "another app" in r.get_data(as_text=True)
    assert client.get("/admin/embedded").status_code == 401
    r = client.get(f"/admin/embedded?id_token={app_token(app, shop, exp=int(time.time()) - 60)}")
    assert r.status_code == 401 and "expired" in r.get_data(as_text=True)
    stranger = factory.shop("shopify")
    retired, _ = factory.staff(stranger, role="owner")
    with pg_db.transaction() as s:
        s.get(StaffUser, retired.id).active = False
    r = client.get(f"/admin/embedded?id_token={app_token(app, stranger)}")
    assert r.status_code == 403 and "deactivated" in r.get_data(as_text=True)
    assert client.get("/admin/customers").status_code == 302  # nobody signed in


def test_the_first_shopify_user_to_open_the_app_creates_the_owner(app, client, pg_db, factory):
    from sqlalchemy import select

    from app.models import AuditEvent, StaffUser

    fresh = factory.shop("shopify")
    r = client.get(f"/admin/embedded?id_token={app_token(app, fresh)}")
    assert r.status_code == 302
    assert "(owner)" in client.get("/admin/customers").get_data(as_text=True)
    with pg_db.session() as s:
        [owner] = s.scalars(select(StaffUser).where(StaffUser.shop_id == fresh.id)).all()
        assert owner.role == "owner" and owner.password_hash is None
        assert s.scalar(select(AuditEvent).where(AuditEvent.shop_id == fresh.id,
                                                 AuditEvent.action == "staff.created")) is not None
    again = app.test_client()
    assert again.get(f"/admin/embedded?id_token={app_token(app, fresh)}").status_code == 302
    assert "(owner)" in again.get("/admin/customers").get_data(as_text=True)  # the same owner
    with pg_db.session() as s:
        assert len(s.scalars(select(StaffUser).where(StaffUser.shop_id == fresh.id)).all()) == 1


def test_embedded_session_cookie_works_in_a_cross_site_frame_over_https(settings, pg_db, factory, restore_runtime):
    from app import create_app

    app = create_app(settings.with_overrides(app_url="https://loyalty.example"), db=pg_db)
    shop = factory.shop("shopify")
    factory.staff(shop, role="owner")
    r = app.test_client().get(f"/admin/embedded?id_token={app_token(app, shop)}",
                              base_url="https://loyalty.example")
    cookie = r.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie
