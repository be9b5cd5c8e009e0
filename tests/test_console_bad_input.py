"""Whatever a browser (or someone posting by hand) sends to the console's forms and query
strings, the answer is a page with a message or a redirect, never a server error."""

from __future__ import annotations

import pytest
from console_helpers import cheap_password_hashing, csrf_token, sign_in, staff_with_password  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

junk = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", "-0", "+5", "1e9", "NaN", "null", "0x10", "9" * 25, "\x00", "１２"]),
)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def owner_client(app, factory, pg_db):
    shop = factory.shop()
    customer = factory.customer(shop)
    factory.points(shop, customer, 100, kind="earn_signup")
    user = staff_with_password(factory, pg_db, shop, role="owner")
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    client.customer_id = customer.id
    client.token = csrf_token(client, "/admin/customers")
    return client


@FUZZ
@given(points=junk, reason=junk, note=junk, key=junk)
def test_adjust_form(owner_client, points, reason, note, key):
    r = owner_client.post(f"/admin/customers/{owner_client.customer_id}/adjust", data={
        "points": points, "reason_code": reason, "note": note, "form_key": key,
        "csrf_token": owner_client.token})
    assert r.status_code < 500


@FUZZ
@given(field=st.sampled_from(["points_per_unit", "signup_points", "pending_days", "points_expire_months",
                              "expiry_reminder_days", "referral_welcome_reward_id", "point_value_minor"]),
       value=junk)
def test_programme_form(owner_client, field, value):
    r = owner_client.post("/admin/program", data={field: value, "csrf_token": owner_client.token})
    assert r.status_code < 500
    r = owner_client.post("/admin/program/console",
                          data={"support_adjustment_limit": value, "csrf_token": owner_client.token})
    assert r.status_code < 500


@FUZZ
@given(kind=junk, cost=junk, value=junk, tiers=junk, key=junk, threshold=junk, multiplier=junk)
def test_reward_and_tier_forms(owner_client, kind, cost, value, tiers, key, threshold, multiplier):
    r = owner_client.post("/admin/rewards/new", data={
        "name": "x", "kind": kind, "points_cost": cost, "value": value, "tiers": tiers,
        "min_points": value, "csrf_token": owner_client.token})
    assert r.status_code < 500
    r = owner_client.post("/admin/tiers/new", data={
        "key": key, "name": "Gold", "threshold_kind": kind, "threshold_value": threshold,
        "window": "lifetime", "retention_days": value, "earn_multiplier": multiplier, "rank": cost,
        "csrf_token": owner_client.token})
    assert r.status_code < 500


@FUZZ
@given(a=junk, b=junk, c=junk)
def test_query_strings_and_ids(owner_client, a, b, c):
    for path, params in (
        ("/admin/customers", {"q": a, "before": b}),
        (f"/admin/customers/{owner_client.customer_id}", {"before": a}),
        ("/admin/audit", {"staff": a, "action": b, "customer": c, "from": a, "to": b, "before": c}),
        ("/admin/approvals", {"status": a}),
        ("/admin/deliveries", {"status": a}),
        ("/admin/sign-in", {"next": a, "expired": b}),
    ):
        assert owner_client.get(path, query_string=params).status_code < 500
    for path in ("/admin/customers/99999999999999999999999", "/admin/rewards/99999999999999999999",
                 "/admin/tiers/0", "/admin/customers/9223372036854775807"):
        assert owner_client.get(path).status_code == 404
    r = owner_client.post(f"/admin/customers/{owner_client.customer_id}/entries/9223372036854775808/undo",
                          data={"csrf_token": owner_client.token})
    assert r.status_code == 404


def test_nul_characters_are_refused_before_any_query(app, owner_client):
    r = owner_client.post("/admin/sign-in", data={"email": "a\x00@example.test", "password": "x",
                                                  "csrf_token": owner_client.token})
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)
    assert owner_client.get("/admin/customers?q=ann%00").status_code == 400
