"""process_delivery: stored deliveries become points exactly once; bad ones end failed."""

import json

import pytest
from order_helpers import (
    customer_by_platform_id,
    entry_count,
    order_points,
    shopify,
    use_runtime,
    violations,
    woo,
)
from sqlalchemy import select

from app.jobs.webhook_jobs import MAX_ATTEMPTS, process_delivery
from app.models import WebhookDelivery


@pytest.fixture
def runtime_db(pg_db, settings):
    yield from use_runtime(pg_db, settings)

def store(db, shop, topic, body, key=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with db.transaction() as s:
        delivery = WebhookDelivery(
            shop_id=shop.id, platform=shop.platform, topic=topic,
            delivery_key=key or f"{topic}:{hash(raw)}", headers={}, body=raw,
        )
        s.add(delivery)
    return delivery.id


def delivery(db, delivery_id):
    with db.session() as s:
        return s.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))


def test_woocommerce_deliveries_earn_once_and_are_marked(runtime_db, factory):
    shop = factory.shop("woocommerce")
    first = store(runtime_db, shop, "order.created", woo("order-b-created-processing"), key="a")
    again = store(runtime_db, shop, "order.updated", woo("order-b-created-processing"), key="b")
    assert process_delivery(first) == "processed"
    assert process_delivery(first) == "processed"  # already processed: skipped
    assert process_delivery(again) == "processed"
    assert order_points(runtime_db, shop, "19") == (75, 0)
    row = delivery(runtime_db, first)
    assert row.status == "processed" and row.attempts == 1 and row.processed_at is not None


def test_unknown_topic_is_ignored(runtime_db, factory):
    shop = factory.shop("woocommerce")
    d = store(runtime_db, shop, "coupon.created", {"id": 14})
    assert process_delivery(d) == "ignored"
    assert delivery(runtime_db, d).status == "ignored"


def test_malformed_payload_fails_with_error_and_posts_nothing(runtime_db, factory):
    shop = factory.shop("shopify")
    body = shopify("orders_paid")
    body.update(test=False, financial_status="paid", cancelled_at=None)
    del body["id"]
    d = store(runtime_db, shop, "orders/paid", body)
    assert process_delivery(d) == "failed"
    row = delivery(runtime_db, d)
    assert row.status == "failed" and "order id is missing" in row.last_error
    assert row.attempts == 1
    assert entry_count(runtime_db, shop) == 0
    not_json = store(runtime_db, shop, "orders/paid", b"webhook_id=1")
    assert process_delivery(not_json) == "failed"
    assert "not JSON" in delivery(runtime_db, not_json).last_error


def test_unexpected_error_is_recorded_and_reraised_until_the_last_attempt(runtime_db, factory, monkeypatch):


    from app.jobs import webhook_jobs

    shop = factory.shop("woocommerce")
    d = store(runtime_db, shop, "order.updated", woo("order-b-created-processing"))

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(webhook_jobs.orders, "converge_order", broken)
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            process_delivery(d)
        row = delivery(runtime_db, d)
        assert (row.status, row.attempts) == ("received", attempt)
        assert row.last_error == "RuntimeError: database hiccup"
    assert process_delivery(d) == "failed"
    assert delivery(runtime_db, d).status == "failed"
    monkeypatch.undo()
    assert entry_count(runtime_db, shop) == 0


def test_customer_created_delivery_gives_signup_bonus_once(runtime_db, factory):
    shop = factory.shop("woocommerce", program={"signup_points": 50})
    body = woo("customer-create")
    for key in ("x", "y"):
        process_delivery(store(runtime_db, shop, "customer.created", body, key=key))
    jane = customer_by_platform_id(runtime_db, shop, "2")
    assert jane.points_balance == 50 and jane.email == "jane.loyal@example.test"
    assert violations(runtime_db, shop) == []
