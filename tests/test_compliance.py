"""Privacy topics: data requests, customer and shop redaction, uninstall."""

import json

import pytest
from order_helpers import (
    customer_by_platform_id,
    shopify,
    use_runtime,
    violations,
)
from sqlalchemy import func, select

from app.jobs.webhook_jobs import process_delivery
from app.models import AuditEvent, Customer, LedgerEntry, OrderSnapshot, Shop, WebhookDelivery


@pytest.fixture
def runtime_db(pg_db, settings):
    yield from use_runtime(pg_db, settings)

def deliver(db, shop, topic, body, key):
    with db.transaction() as s:
        d = WebhookDelivery(shop_id=shop.id, platform=shop.platform, topic=topic, delivery_key=key,
                            headers={}, body=json.dumps(body).encode())
        s.add(d)
    return process_delivery(d.id), d.id


def redact_body(customer_id):
    body = shopify("customers_redact")
    body["customer"]["id"] = int(customer_id)
    return body


def shop_with_history(db, factory):
    shop = factory.shop("shopify", program={"signup_points": 10})
    customer = shopify("customers_create")
    customer["id"] = 191167
    deliver(db, shop, "customers/create", customer, "c1")
    order = shopify("orders_paid")
    order.update(test=False, financial_status="paid", cancelled_at=None, customer=customer)
    deliver(db, shop, "orders/paid", order, "o1")
    return shop


def test_customer_redact_erases_personal_data_and_keeps_the_ledger(runtime_db, factory):
    shop = shop_with_history(runtime_db, factory)
    status, _ = deliver(runtime_db, shop, "customers/data_request", shopify("customers_data_request"), "dr")
    assert status == "processed"
    with runtime_db.session() as s:
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "customer.data_request"))
        export = audit.after["customers"][0]
    assert export["profile"]["email"] == "bob@biller.com" and export["profile"]["points_balance"] == 424
    assert [o["target_points"] for o in export["orders"]] == [414]
    assert status == "processed"
    status, _ = deliver(runtime_db, shop, "customers/redact", redact_body(191167), "r1")
    assert status == "processed"
    bob = customer_by_platform_id(runtime_db, shop, "191167")
    assert (bob.email, bob.first_name, bob.last_name, bob.birthday) == (None, None, None, None)
    assert bob.redacted_at is not None and bob.points_balance == 424
    with runtime_db.session() as s:
        assert s.scalar(select(AuditEvent.after).where(AuditEvent.action == "customer.data_request")) is None
    assert violations(runtime_db, shop) == []
    # A later profile update does not bring the personal data back.
    again = shopify("customers_update")
    again["id"] = 191167
    deliver(runtime_db, shop, "customers/update", again, "u2")
    assert customer_by_platform_id(runtime_db, shop, "191167").email is None


def test_shop_redact_deletes_the_shops_data_only(runtime_db, factory):
    shop = shop_with_history(runtime_db, factory)
    other = shop_with_history(runtime_db, factory)
    status, delivery_id = deliver(runtime_db, shop, "shop/redact", shopify("shop_redact"), "sr")
    assert status == "processed"
    with runtime_db.session() as s:
        for model in (Customer, OrderSnapshot, LedgerEntry):
            assert s.scalar(select(func.count()).select_from(model).where(model.shop_id == shop.id)) == 0
            assert s.scalar(select(func.count()).select_from(model).where(model.shop_id == other.id)) > 0
        left = s.scalars(select(WebhookDelivery.id).where(WebhookDelivery.shop_id == shop.id)).all()
        assert left == [delivery_id]
        row = s.get(Shop, shop.id)
        assert row.install_state == "redacted" and row.credentials is None
    assert violations(runtime_db, other) == []


def test_app_uninstalled_marks_the_shop(runtime_db, factory):
    shop = factory.shop("shopify")
    status, _ = deliver(runtime_db, shop, "app/uninstalled", shopify("app_uninstalled"), "un")
    assert status == "processed"
    with runtime_db.session() as s:
        row = s.get(Shop, shop.id)
        assert row.install_state == "uninstalled" and row.uninstalled_at is not None
