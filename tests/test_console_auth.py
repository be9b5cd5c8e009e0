"""Console sign-in: passwords, rate limits, sessions that expire and end, CSRF on every
form, and the security headers of every page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import webhook_support
from console_helpers import (  # noqa: F401 (autouse fixture)
    PASSWORD,
    cheap_password_hashing,
    csrf_token,
    post,
    sign_in,
    staff_with_password,
)
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.console.permissions import PERMISSIONS, allowed
from app.models import ROLES, AuditEvent, ConsoleSession, StaffUser, role_rank

restore_runtime = webhook_support.restore_runtime  # a fixture: apps built here reconfigure the runtime

@pytest.fixture
def shop(factory):
    return factory.shop()


@pytest.fixture
def owner(factory, pg_db, shop):
    return staff_with_password(factory, pg_db, shop, role="owner")


def test_signed_out_pages_redirect_to_sign_in(client):
    r = client.get("/admin/customers?q=x")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/admin/sign-in?next=/admin/customers")


def test_sign_in_and_out(client, owner, pg_db):
    r = sign_in(client, owner.email)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
    page = client.get("/admin/customers")
    assert page.status_code == 200 and owner.email in page.get_data(as_text=True)
    with pg_db.session() as s:
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.shop_id == owner.shop_id)).all()
    assert "console.sign_in" in events

    r = post(client, "/admin/sign-out")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/sign-in"
    assert client.get("/admin/customers").status_code == 302


def test_sign_out_ends_the_session_for_a_copied_cookie(app, client, owner):
    sign_in(client, owner.email)
    stolen = client.get_cookie("session").value
    post(client, "/admin/sign-out")
    other = app.test_client()
    other.set_cookie("session", stolen)
    assert other.get("/admin/customers").status_code == 302


def test_next_goes_back_to_the_page_asked_for_but_never_off_site(client, owner):
    r = sign_in(client, owner.email, next="/admin/customers?q=ann")
    assert r.headers["Location"] == "/admin/customers?q=ann"
    post(client, "/admin/sign-out")
    r = sign_in(client, owner.email, next="//evil.example/admin")
    assert r.headers["Location"] == "/admin/"


def test_wrong_password_and_unknown_email_answer_alike(client, owner):
    wrong = sign_in(client, owner.email, "not the password at all")
    unknown = sign_in(client, "nobody@example.test", "not the password at all")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "Email or password is not right." in r.get_data(as_text=True)
    assert client.get("/admin/customers").status_code == 302


def test_inactive_staff_cannot_sign_in(client, owner, pg_db):
    with pg_db.transaction() as s:
        s.get(StaffUser, owner.id).active = False
    assert sign_in(client, owner.email).status_code == 401


def test_same_email_in_two_shops_asks_for_the_shop(client, factory, pg_db, owner, shop):
    other_shop = factory.shop()
    staff_with_password(factory, pg_db, other_shop, role="viewer", email=owner.email)
    r = sign_in(client, owner.email)
    assert r.status_code == 200 and "several shops" in r.get_data(as_text=True)
    r = sign_in(client, owner.email, shop=other_shop.domain)
    assert r.status_code == 302
    assert "(viewer)" in client.get("/admin/customers").get_data(as_text=True)


def test_sign_in_is_rate_limited_per_email(client, owner):
    for _ in range(10):
        assert sign_in(client, owner.email, "wrong password!!").status_code == 401
    r = sign_in(client, owner.email)  # even the right password waits now
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many sign-in attempts" in r.get_data(as_text=True)


def test_sign_in_is_rate_limited_per_ip(app, client, owner):
    app.extensions["console_signin_limits"]["ip"] = __import__("limits").parse("3/minute")
    for n in range(3):
        assert sign_in(client, f"someone{n}@example.test", "x").status_code == 401
    assert sign_in(client, owner.email).status_code == 429


def test_session_expires_when_idle(client, owner):
    with freeze_time("2026-03-01 10:00:00") as frozen:
        sign_in(client, owner.email)
        frozen.tick(timedelta(minutes=29))
        assert client.get("/admin/customers").status_code == 200
        frozen.tick(timedelta(minutes=29))  # active 29 minutes ago: still fine
        assert client.get("/admin/customers").status_code == 200
        frozen.tick(timedelta(minutes=31))
        r = client.get("/admin/customers")
        assert r.status_code == 302 and "expired=1" in r.headers["Location"]
        assert "Your session expired" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_session_expires_after_twelve_hours_however_active(client, owner, pg_db):
    with freeze_time("2026-03-01 08:00:00") as frozen:
        sign_in(client, owner.email)
        for _ in range(24):  # 11h36 of activity
            frozen.tick(timedelta(minutes=29))
            assert client.get("/admin/customers").status_code == 200
        frozen.tick(timedelta(minutes=29))  # 12h05 after signing in
        assert client.get("/admin/customers").status_code == 302
    with pg_db.session() as s:
        row = s.scalars(select(ConsoleSession).where(ConsoleSession.staff_user_id == owner.id)).one()
    assert row.ended_at is not None


def test_changing_the_password_ends_sessions(client, owner, pg_db):
    from app.console.auth import set_password

    sign_in(client, owner.email)
    with pg_db.transaction() as s:
        set_password(s, s.get(StaffUser, owner.id), "another long password")
    assert client.get("/admin/customers").status_code == 302
    assert sign_in(client, owner.email, "another long password").status_code == 302


def test_post_without_csrf_token_is_refused(client, owner, factory, shop):
    customer = factory.customer(shop)
    sign_in(client, owner.email)
    r = client.post(f"/admin/customers/{customer.id}/adjust",
                    data={"points": "5", "reason_code": "goodwill", "form_key": "k" * 16})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    r = client.post("/admin/sign-out")
    assert r.status_code == 400
    assert client.get("/admin/customers").status_code == 200  # still signed in
    bad = client.post("/admin/sign-in", data={"email": owner.email, "password": PASSWORD,
                                               "csrf_token": "forged"})
    assert bad.status_code == 400


def test_csrf_token_of_another_browser_is_refused(app, client, owner):
    sign_in(client, owner.email)
    other = app.test_client()
    foreign = csrf_token(other)
    r = client.post("/admin/sign-out", data={"csrf_token": foreign})
    assert r.status_code == 400


def test_security_headers_and_cookie_flags(client, owner):
    r = client.get("/admin/sign-in")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors https://admin.shopify.com https://*.myshopify.com" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.get_data(as_text=True)  # no inline script
    r = sign_in(client, owner.email)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # APP_URL is plain http in tests
    assert client.get("/admin/static/console.css").status_code == 200


def test_cookie_is_secure_when_app_url_is_https(settings, pg_db, factory, restore_runtime):
    from console_helpers import staff_with_password as make

    from app import create_app

    app = create_app(settings.with_overrides(app_url="https://loyalty.example"), db=pg_db)
    app.testing = True
    shop = factory.shop()
    user = make(factory, pg_db, shop)
    client = app.test_client()
    page = client.get("/admin/sign-in", base_url="https://loyalty.example")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/admin/sign-in", base_url="https://loyalty.example",
                    headers={"Referer": "https://loyalty.example/admin/sign-in"},
                    data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    assert "Secure" in r.headers["Set-Cookie"]


@given(permission=st.one_of(st.sampled_from(sorted(PERMISSIONS)), st.text(max_size=20)),
       lower=st.sampled_from(ROLES), higher=st.sampled_from(ROLES))
def test_a_higher_role_has_every_permission_of_a_lower_one(permission, lower, higher):
    if role_rank(higher) >= role_rank(lower) and allowed(lower, permission):
        assert allowed(higher, permission)
    if permission not in PERMISSIONS:
        assert not allowed("owner", permission)  # a typo never opens a page
    assert not allowed("nobody", permission)


def test_the_permission_table_names_only_real_roles():
    assert set(PERMISSIONS.values()) <= set(ROLES)
    assert PERMISSIONS["dashboard.view"] == "viewer" and PERMISSIONS["imports.run"] == "admin"
    assert not allowed("viewer", "customers.adjust") and allowed("support", "customers.adjust")
    assert not allowed("support", "adjustments.approve") and allowed("admin", "adjustments.approve")
    assert not allowed("admin", "console_settings.edit") and allowed("owner", "console_settings.edit")
