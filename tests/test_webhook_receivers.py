"""The webhook receivers, end to end on PostgreSQL with jobs going to a real Redis: what
a platform gets back, what lands in the inbox, and what is queued (once)."""

from __future__ import annotations

import json
from datetime import timedelta

import webhook_support
from sqlalchemy import select
from webhook_support import (
    CLOSED_DATABASE,
    CLOSED_REDIS,
    SHOPIFY_SECRET,
    count_deliveries,
    shopify_body,
    shopify_headers,
    webhook_jobs,
    woo_deliveries,
    woo_request_headers,
)

from app import create_app
from app.config import Settings
from app.models import WebhookDelivery
from integrations.shopify.webhooks import sign as shopify_sign

# Fixtures shared by the webhook tests.
restore_runtime = webhook_support.restore_runtime
rq_app = webhook_support.rq_app
rq_client = webhook_support.rq_client
rq_settings = webhook_support.rq_settings

SHOPIFY = "/webhooks/shopify"


def woo_url(shop) -> str:
    return f"/webhooks/woocommerce/{shop.id}"


def only_delivery(db) -> WebhookDelivery:
    with db.session() as s:
        rows = list(s.scalars(select(WebhookDelivery)))
    assert len(rows) == 1
    return rows[0]


# -- Shopify -------------------------------------------------------------------------------


def test_valid_shopify_delivery_is_stored_and_queued_once(rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    body = shopify_body("orders_paid.json")
    headers = shopify_headers(body, shop.domain, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")

    response = rq_client.post(SHOPIFY, data=body, headers=headers)

    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    delivery = only_delivery(pg_db)
    assert (delivery.shop_id, delivery.platform, delivery.topic) == (shop.id, "shopify", "orders/paid")
    assert delivery.delivery_key == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert delivery.body == body
    assert delivery.status == "received"
    assert delivery.enqueued_at is not None
    assert "X-Shopify-Hmac-Sha256" not in delivery.headers
    assert delivery.headers["X-Shopify-Shop-Domain"] == shop.domain
    jobs = webhook_jobs(redis_url)
    assert [(j.func_name, j.args) for j in jobs] == [
        ("app.jobs.webhook_jobs.process_delivery", (delivery.id,))
    ]
    assert jobs[0].retries_left == 4  # retry_policy(): 5 attempts in all


def test_duplicate_shopify_delivery_is_acknowledged_not_stored_or_queued_again(
        rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    body = shopify_body()
    headers = shopify_headers(body, shop.domain)

    first = rq_client.post(SHOPIFY, data=body, headers=headers)
    again = rq_client.post(SHOPIFY, data=body, headers=headers)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == {"ok": True}
    assert count_deliveries(pg_db) == 1
    assert len(webhook_jobs(redis_url)) == 1


def test_same_webhook_id_in_two_shops_is_two_deliveries(rq_client, factory, pg_db):
    one, two = factory.shop("shopify"), factory.shop("shopify")
    body = shopify_body()
    for shop in (one, two):
        headers = shopify_headers(body, shop.domain, webhook_id="same-id")
        assert rq_client.post(SHOPIFY, data=body, headers=headers).status_code == 200
    assert count_deliveries(pg_db) == 2


def test_tampered_body_or_missing_signature_is_401(rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    body = shopify_body()
    headers = shopify_headers(body, shop.domain)

    tampered = rq_client.post(SHOPIFY, data=body.replace(b"404.95", b"4.95"), headers=headers)
    del headers["X-Shopify-Hmac-Sha256"]
    missing = rq_client.post(SHOPIFY, data=body, headers=headers)
    garbage = rq_client.post(SHOPIFY, data=body, headers={**headers, "X-Shopify-Hmac-Sha256": "%%%"})

    for response in (tampered, missing, garbage):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_signature"
    assert count_deliveries(pg_db) == 0
    assert webhook_jobs(redis_url) == []


def test_previous_secret_is_accepted_during_rotation_and_others_are_not(
        rq_settings, pg_db, factory, restore_runtime):
    settings = rq_settings.with_overrides(shopify_api_secret="rotated-secret",
                                          shopify_previous_api_secret=SHOPIFY_SECRET)
    client = create_app(settings, db=pg_db).test_client()
    shop = factory.shop("shopify")
    body = shopify_body()

    old = client.post(SHOPIFY, data=body, headers=shopify_headers(body, shop.domain))
    new = client.post(SHOPIFY, data=body, headers=shopify_headers(
        body, shop.domain, secret="rotated-secret"))
    other = client.post(SHOPIFY, data=body, headers=shopify_headers(
        body, shop.domain, secret="unrelated-secret"))

    assert (old.status_code, new.status_code, other.status_code) == (200, 200, 401)
    assert count_deliveries(pg_db) == 2


def test_body_over_the_limit_is_413_and_not_stored(rq_settings, pg_db, factory, restore_runtime):
    client = create_app(rq_settings.with_overrides(webhook_max_bytes=1024), db=pg_db).test_client()
    shop = factory.shop("shopify")
    small = b'{"id": 1}'
    big = json.dumps({"id": 1, "note": "x" * 1100}).encode()

    assert client.post(SHOPIFY, data=big, headers=shopify_headers(big, shop.domain)).status_code == 413
    assert client.post(SHOPIFY, data=small, headers=shopify_headers(small, shop.domain)).status_code == 200
    assert count_deliveries(pg_db) == 1


def test_unknown_shop_is_404_and_nothing_is_stored(rq_client, factory, pg_db, redis_url):
    factory.shop("shopify")
    woo = factory.shop("woocommerce")
    body = shopify_body()

    shopify_unknown = rq_client.post(SHOPIFY, data=body,
                                     headers=shopify_headers(body, "nobody.myshopify.com"))
    # A WooCommerce shop's id is not a Shopify shop, and vice versa.
    woo_unknown = rq_client.post(f"/webhooks/woocommerce/{woo.id + 1000}", data=b'{"id":1}',
                                 headers={"X-WC-Webhook-Topic": "order.updated"})

    assert (shopify_unknown.status_code, woo_unknown.status_code) == (404, 404)
    assert count_deliveries(pg_db) == 0
    assert webhook_jobs(redis_url) == []


def test_malformed_json_with_a_valid_signature_is_400_and_nothing_stored(rq_client, factory, pg_db):
    shop = factory.shop("shopify")
    for body in (b'{"id": 1,', b"[1, 2]", b"\xff\xfe"):
        response = rq_client.post(SHOPIFY, data=body, headers=shopify_headers(body, shop.domain))
        assert response.status_code == 400, body
    assert count_deliveries(pg_db) == 0


def test_missing_webhook_id_or_topic_is_400(rq_client, factory, pg_db):
    shop = factory.shop("shopify")
    body = shopify_body()
    for header in ("X-Shopify-Webhook-Id", "X-Shopify-Topic"):
        headers = shopify_headers(body, shop.domain)
        del headers[header]
        response = rq_client.post(SHOPIFY, data=body, headers=headers)
        assert response.status_code == 400
        assert header in response.get_json()["error"]["message"]
    assert count_deliveries(pg_db) == 0


# -- WooCommerce ---------------------------------------------------------------------------


def test_replaying_the_captured_woocommerce_deliveries_stores_each_once(
        rq_client, factory, pg_db, redis_url):
    shop = factory.shop("woocommerce")
    captured = [d for d in woo_deliveries() if d["kind"] == "webhook"]

    for delivery in captured:
        response = rq_client.post(woo_url(shop), data=delivery["body"],
                                  headers=woo_request_headers(delivery))
        assert response.status_code == 200, delivery["seq"]

    assert count_deliveries(pg_db, shop_id=shop.id, platform="woocommerce") == 44
    with pg_db.session() as s:
        rows = {d.delivery_key: d for d in s.scalars(select(WebhookDelivery))}
    # The two deliveries that share an X-WC-Webhook-Delivery-ID are both kept.
    assert {"order.updated:19:2026-11-23T17:55:24", "order.updated:29:2026-11-23T17:55:24"} <= set(rows)
    assert rows["order.deleted:18"].body == b'{"id":18}'
    assert all("X-WC-Webhook-Signature" not in d.headers for d in rows.values())
    assert len(webhook_jobs(redis_url)) == 44

    for delivery in captured:  # the whole capture again: all duplicates
        response = rq_client.post(woo_url(shop), data=delivery["body"],
                                  headers=woo_request_headers(delivery))
        assert response.status_code == 200
    assert count_deliveries(pg_db) == 44
    assert len(webhook_jobs(redis_url)) == 44


def test_woocommerce_pings_get_200_and_store_nothing(rq_client, factory, pg_db, redis_url):
    shop = factory.shop("woocommerce")
    for ping in (d for d in woo_deliveries() if d["kind"] == "ping"):
        response = rq_client.post(woo_url(shop), data=ping["body"], headers=woo_request_headers(ping))
        assert response.status_code == 200, ping["seq"]
    assert count_deliveries(pg_db) == 0
    assert webhook_jobs(redis_url) == []


def test_woocommerce_bad_signature_or_other_secret_is_401(rq_client, factory, pg_db):
    delivery = next(d for d in woo_deliveries() if d["seq"] == 25)
    other_secret = factory.shop("woocommerce", credentials={
        "consumer_key": "ck", "consumer_secret": "cs", "webhook_secret": "another-store-secret"})
    shop = factory.shop("woocommerce")
    headers = woo_request_headers(delivery)

    wrong_store = rq_client.post(woo_url(other_secret), data=delivery["body"], headers=headers)
    tampered = rq_client.post(woo_url(shop), data=delivery["body"].replace(b"processing", b"completed"),
                              headers=headers)
    del headers["X-WC-Webhook-Signature"]
    unsigned = rq_client.post(woo_url(shop), data=delivery["body"], headers=headers)

    assert [r.status_code for r in (wrong_store, tampered, unsigned)] == [401, 401, 401]
    assert count_deliveries(pg_db) == 0


# -- outages -------------------------------------------------------------------------------


def test_redis_down_still_acknowledges_and_keeps_the_row_unqueued(
        rq_settings, pg_db, factory, restore_runtime):
    client = create_app(rq_settings.with_overrides(redis_url=CLOSED_REDIS), db=pg_db).test_client()
    shop = factory.shop("shopify")
    body = shopify_body()

    response = client.post(SHOPIFY, data=body, headers=shopify_headers(body, shop.domain))

    assert response.status_code == 200
    delivery = only_delivery(pg_db)
    assert delivery.status == "received"
    assert delivery.enqueued_at is None


def test_database_down_answers_503_so_the_platform_retries(restore_runtime):
    settings = Settings(app_env="test", database_url=CLOSED_DATABASE, redis_url=None,
                        shopify_api_secret=SHOPIFY_SECRET)
    client = create_app(settings).test_client()
    body = shopify_body()

    shopify = client.post(SHOPIFY, data=body, headers=shopify_headers(body, "a.myshopify.com"))
    woo = client.post("/webhooks/woocommerce/1", data=b'{"id":1}',
                      headers={"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": "x"})

    for response in (shopify, woo):
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database_unavailable"


def test_duplicate_of_a_delivery_received_long_ago_is_still_a_duplicate(
        rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    body = shopify_body()
    headers = shopify_headers(body, shop.domain)
    assert rq_client.post(SHOPIFY, data=body, headers=headers).status_code == 200
    with pg_db.transaction() as s:
        row = s.scalars(select(WebhookDelivery)).one()
        row.received_at -= timedelta(days=3)  # Shopify retries for hours and may be late
    assert rq_client.post(SHOPIFY, data=body, headers=headers).status_code == 200
    assert count_deliveries(pg_db) == 1
    assert len(webhook_jobs(redis_url)) == 1


def test_shopify_signature_uses_the_exact_bytes_received(rq_client, factory, pg_db):
    shop = factory.shop("shopify")
    body = shopify_body()
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    headers = shopify_headers(body, shop.domain)
    assert rq_client.post(SHOPIFY, data=compact, headers=headers).status_code == 401
    headers["X-Shopify-Hmac-Sha256"] = shopify_sign(compact, SHOPIFY_SECRET)
    assert rq_client.post(SHOPIFY, data=compact, headers=headers).status_code == 200
