"""Console customer pages: search, the customer page, adjustments by role and limit, the
approval flow, one-time undo, the audit log page, and isolation between shops."""

from __future__ import annotations

import pytest
from console_helpers import cheap_password_hashing, form_key, post, sign_in, staff_with_password  # noqa: F401 (autouse fixture)
from sqlalchemy import select

from app.models import AdjustmentRequest, AuditEvent, Customer, LedgerEntry, OrderSnapshot


@pytest.fixture
def shop(factory):
    return factory.shop()


@pytest.fixture
def customer(factory, shop):
    c = factory.customer(shop, email="ann@example.test", first_name="Ann", last_name="Lee")
    factory.points(shop, c, 1000, kind="earn_signup")
    return c


def signed_in(app, factory, pg_db, shop, role):
    user = staff_with_password(factory, pg_db, shop, role=role)
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client, user


def adjust(client, customer, points, reason="goodwill", note="", key=None):
    key = key or form_key(client, customer.id)
    return post(client, f"/admin/customers/{customer.id}/adjust",
                {"points": str(points), "reason_code": reason, "note": note, "form_key": key},
                page=f"/admin/customers/{customer.id}")


def balance(pg_db, customer) -> int:
    with pg_db.session() as s:
        return s.get(Customer, customer.id).points_balance


def entries(pg_db, customer, kind="adjust"):
    with pg_db.session() as s:
        return s.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == customer.id,
                                                   LedgerEntry.kind == kind).order_by(LedgerEntry.id)).all()


def test_search_finds_by_name_and_email(app, factory, pg_db, shop, customer):
    factory.customer(shop, email="bob@example.test", first_name="Bob")
    client, _ = signed_in(app, factory, pg_db, shop, "viewer")
    page = client.get("/admin/customers?q=ann@").get_data(as_text=True)
    assert "ann@example.test" in page and "bob@example.test" not in page
    page = client.get("/admin/customers?q=lee").get_data(as_text=True)
    assert "Ann Lee" in page and "bob@" not in page
    assert "No customers found" in client.get("/admin/customers?q=zzz").get_data(as_text=True)


def test_customer_page_shows_balance_orders_and_why_no_points(app, factory, pg_db, shop, customer):
    with pg_db.transaction() as s:
        s.add(OrderSnapshot(shop_id=shop.id, platform_order_id="9001", customer_id=customer.id,
                            name="#9001", currency="USD", total_minor=2500, target_points=0,
                            no_points_reason="order is a test order", test=True))
    client, _ = signed_in(app, factory, pg_db, shop, "viewer")
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert 'id="balance">1000<' in page
    assert "#9001" in page and "order is a test order" in page
    assert "earn_signup" in page
    assert "Adjust points" not in page  # a viewer sees no adjustment form


def test_viewer_cannot_adjust(app, factory, pg_db, shop, customer):
    client, _ = signed_in(app, factory, pg_db, shop, "viewer")
    r = adjust(client, customer, 50, key="k" * 16)
    assert r.status_code == 403 and "does not allow" in r.get_data(as_text=True)
    assert balance(pg_db, customer) == 1000


def test_support_adjusts_within_the_limit_with_reason_and_audit(app, factory, pg_db, shop, customer):
    client, user = signed_in(app, factory, pg_db, shop, "support")
    r = adjust(client, customer, 200, reason="service_recovery", note="late parcel")
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Posted +200 points. New balance: 1200." in page
    [entry] = entries(pg_db, customer)
    assert (entry.points, entry.reason, entry.staff_user_id) == (200, "service_recovery: late parcel", user.id)
    with pg_db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.adjust")).one()
    assert event.actor == user.email and event.after["points_balance"] == 1200


def test_a_double_submitted_form_posts_once(app, factory, pg_db, shop, customer):
    client, _ = signed_in(app, factory, pg_db, shop, "admin")
    key = form_key(client, customer.id)
    adjust(client, customer, 30, key=key)
    r = adjust(client, customer, 30, key=key)
    assert "already posted" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert balance(pg_db, customer) == 1030


@pytest.mark.parametrize("points,reason,note,message", [
    ("0", "goodwill", "", "not 0"),
    ("abc", "goodwill", "", "whole number"),
    ("1000001", "goodwill", "", "from -1000000"),
    ("5", "made_up", "", "choose a reason"),
    ("5", "other", "", "explain the reason"),
    ("5", "goodwill", "x" * 501, "at most 500"),
])
def test_bad_adjustments_are_refused_with_a_message(app, factory, pg_db, shop, customer,
                                                    points, reason, note, message):
    client, _ = signed_in(app, factory, pg_db, shop, "owner")
    r = adjust(client, customer, points, reason=reason, note=note)
    assert message in client.get(r.headers["Location"]).get_data(as_text=True)
    assert entries(pg_db, customer) == []


def test_a_debit_beyond_the_balance_is_refused(app, factory, pg_db, shop, customer):
    client, _ = signed_in(app, factory, pg_db, shop, "owner")
    r = adjust(client, customer, -1001)
    assert "insufficient" in client.get(r.headers["Location"]).get_data(as_text=True).lower() or \
        balance(pg_db, customer) == 1000
    assert balance(pg_db, customer) == 1000


def test_support_beyond_the_limit_asks_and_an_admin_approves(app, factory, pg_db, shop, customer):
    support, _ = signed_in(app, factory, pg_db, shop, "support")
    r = adjust(support, customer, 501, note="big apology")
    assert "an admin has been asked to approve" in support.get(r.headers["Location"]).get_data(as_text=True)
    assert balance(pg_db, customer) == 1000
    assert support.get("/admin/approvals").status_code == 403

    admin, admin_user = signed_in(app, factory, pg_db, shop, "admin")
    page = admin.get("/admin/approvals").get_data(as_text=True)
    assert "big apology" in page and "+501" in page
    with pg_db.session() as s:
        request_id = s.scalars(select(AdjustmentRequest.id)).one()
    r = post(admin, f"/admin/approvals/{request_id}/approve", {"note": "ok"})
    assert "+501 points posted" in admin.get(r.headers["Location"]).get_data(as_text=True)
    assert balance(pg_db, customer) == 1501
    # Approving again (a second tab, a double click) posts nothing more.
    r = post(admin, f"/admin/approvals/{request_id}/approve")
    assert "already approved" in admin.get(r.headers["Location"]).get_data(as_text=True)
    assert balance(pg_db, customer) == 1501
    with pg_db.session() as s:
        req = s.get(AdjustmentRequest, request_id)
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert (req.status, req.decided_by, req.decision_note) == ("approved", admin_user.email, "ok")
    assert {"adjustment.request", "customer.adjust", "adjustment.approve"} <= set(actions)


def test_a_rejected_request_posts_nothing_and_cannot_be_approved(app, factory, pg_db, shop, customer):
    support, _ = signed_in(app, factory, pg_db, shop, "support")
    adjust(support, customer, -600, reason="fraud", note="chargeback")
    owner, _ = signed_in(app, factory, pg_db, shop, "owner")
    with pg_db.session() as s:
        request_id = s.scalars(select(AdjustmentRequest.id)).one()
    post(owner, f"/admin/approvals/{request_id}/reject", {"note": "not proven"})
    r = post(owner, f"/admin/approvals/{request_id}/approve")
    assert "already rejected" in owner.get(r.headers["Location"]).get_data(as_text=True)
    assert balance(pg_db, customer) == 1000 and entries(pg_db, customer) == []


def test_the_owner_sets_the_support_limit(app, factory, pg_db, shop, customer):
    owner, _ = signed_in(app, factory, pg_db, shop, "owner")
    r = post(owner, "/admin/program/console", {"support_adjustment_limit": "50"}, page="/admin/program")
    assert r.status_code == 302
    support, _ = signed_in(app, factory, pg_db, shop, "support")
    assert "above 50 points" in support.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    adjust(support, customer, 51)
    assert balance(pg_db, customer) == 1000
    adjust(support, customer, 50)
    assert balance(pg_db, customer) == 1050
    admin, _ = signed_in(app, factory, pg_db, shop, "admin")
    r = post(admin, "/admin/program/console", {"support_adjustment_limit": "5000"}, page="/admin/program")
    assert r.status_code == 403


def test_undo_posts_a_compensating_entry_once(app, factory, pg_db, shop, customer):
    client, _ = signed_in(app, factory, pg_db, shop, "support")
    adjust(client, customer, 120)
    [entry] = entries(pg_db, customer)
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert f"/entries/{entry.id}/undo" in page
    r = post(client, f"/admin/customers/{customer.id}/entries/{entry.id}/undo")
    assert "Undone: -120 points. New balance: 1000." in client.get(r.headers["Location"]).get_data(as_text=True)
    r = post(client, f"/admin/customers/{customer.id}/entries/{entry.id}/undo")
    assert "already undone" in client.get(r.headers["Location"]).get_data(as_text=True)
    original, compensation = entries(pg_db, customer)
    assert original.id == entry.id and original.status == "posted"  # never deleted
    assert (compensation.points, compensation.reverses_entry_id) == (-120, entry.id)
    assert balance(pg_db, customer) == 1000
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert f"/entries/{entry.id}/undo" not in page and "undone" in page
    # The compensation itself is not undoable, nor are non-adjustment entries.
    r = post(client, f"/admin/customers/{customer.id}/entries/{compensation.id}/undo")
    assert "not itself an undo" in client.get(r.headers["Location"]).get_data(as_text=True)
    [signup] = entries(pg_db, customer, kind="earn_signup")
    post(client, f"/admin/customers/{customer.id}/entries/{signup.id}/undo")
    assert balance(pg_db, customer) == 1000


def test_staff_of_another_shop_sees_nothing(app, factory, pg_db, shop, customer):
    other_shop = factory.shop()
    client, _ = signed_in(app, factory, pg_db, other_shop, "owner")
    assert client.get(f"/admin/customers/{customer.id}").status_code == 404
    assert "ann@example.test" not in client.get("/admin/customers?q=ann").get_data(as_text=True)
    r = adjust(client, customer, 10, key="k" * 16)
    assert r.status_code == 404
    [signup] = entries(pg_db, customer, kind="earn_signup")
    assert post(client, f"/admin/customers/{customer.id}/entries/{signup.id}/undo").status_code == 404
    assert balance(pg_db, customer) == 1000
    assert "ann@" not in client.get("/admin/audit").get_data(as_text=True)


def test_audit_page_filters(app, factory, pg_db, shop, customer):
    other = factory.customer(shop, email="zed@example.test")
    admin, admin_user = signed_in(app, factory, pg_db, shop, "admin")
    support, support_user = signed_in(app, factory, pg_db, shop, "support")
    adjust(admin, customer, 11, note="from admin")
    adjust(support, other, 22, note="from support")
    page = admin.get(f"/admin/audit?staff={support_user.id}").get_data(as_text=True)
    assert "from support" in page and "from admin" not in page
    page = admin.get(f"/admin/audit?customer={customer.id}").get_data(as_text=True)
    assert "from admin" in page and "from support" not in page
    page = admin.get("/admin/audit?action=console.sign_in").get_data(as_text=True)
    assert "console.sign_in" in page and "from admin" not in page
    assert "No events match" in admin.get("/admin/audit?from=2001-01-01&to=2001-01-02").get_data(as_text=True)
    assert "from admin" in admin.get("/admin/audit?from=2000-01-01&to=2100-01-01").get_data(as_text=True)
    assert admin.get("/admin/audit?from=garbage&customer=-1").status_code == 200
    assert support.get("/admin/audit").status_code == 403


def test_customer_page_lists_the_shoppers_win_back_offers(app, factory, pg_db, shop, customer):
    from datetime import UTC, datetime, timedelta

    from app.models import WinbackCampaign, WinbackOffer

    other = factory.customer(shop, email="zed@example.test")
    now = datetime.now(UTC)
    with pg_db.transaction() as s:
        campaign = WinbackCampaign(shop_id=shop.id, settings={})
        s.add(campaign)
        s.flush()
        for who, stage, holdout, points in ((customer, "at_risk", False, 250), (customer, "lapsed", True, 0),
                                            (other, "at_risk", False, 999)):
            s.add(WinbackOffer(shop_id=shop.id, campaign_id=campaign.id, customer_id=who.id,
                               period=f"{stage}:1", stage=stage, holdout=holdout, status="offered",
                               offered_at=now - timedelta(days=3), attribution_ends_at=now + timedelta(days=11),
                               offer_kind="points", points=points))
    client, _ = signed_in(app, factory, pg_db, shop, "viewer")
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    section = page.split("<h2>Win-back offers</h2>", 1)[1]
    assert "250 points" in section and "holdout (not sent)" in section and "lapsed" in section
    assert "999 points" not in section  # another shopper's offer
    empty = client.get(f"/admin/customers/{other.id}").get_data(as_text=True)
    assert "999 points" in empty and "No win-back offers" not in empty


def test_money_is_shown_in_the_currencys_own_decimals(app, factory, pg_db):
    yen_shop = factory.shop(currency="JPY")
    shopper = factory.customer(yen_shop, email="taro@example.test")
    with pg_db.transaction() as s:
        s.add(OrderSnapshot(shop_id=yen_shop.id, platform_order_id="77", customer_id=shopper.id, name="#77",
                            currency="JPY", total_minor=12500, target_points=0))
    client, _ = signed_in(app, factory, pg_db, yen_shop, "viewer")
    page = client.get(f"/admin/customers/{shopper.id}").get_data(as_text=True)
    assert "12,500 JPY" in page and "125.00" not in page
