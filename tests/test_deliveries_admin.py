"""Admins see their shop's webhook deliveries (never the raw body) and replay one."""

from __future__ import annotations

import webhook_support
from sqlalchemy import select
from webhook_support import (
    count_deliveries,
    webhook_jobs,
)

from app.models import AuditEvent, WebhookDelivery
from app.models.base import utcnow

# Fixtures shared by the webhook tests.
restore_runtime = webhook_support.restore_runtime
rq_app = webhook_support.rq_app
rq_client = webhook_support.rq_client
rq_settings = webhook_support.rq_settings

BASE = "/admin/api/v1"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_delivery(db, shop, key, *, status="received", error=None, attempts=0) -> int:
    with db.transaction() as s:
        delivery = WebhookDelivery(
            shop_id=shop.id, platform=shop.platform, topic="orders/paid", delivery_key=key,
            headers={}, body=b'{"email":"shopper@example.test"}', status=status,
            attempts=attempts, last_error=error, enqueued_at=utcnow(),
        )
        s.add(delivery)
        s.flush()
        return delivery.id


def test_list_filters_by_status_pages_and_hides_the_body(rq_client, factory, pg_db):
    shop = factory.shop("shopify")
    _, token = factory.staff(shop, "admin")
    failed = [add_delivery(pg_db, shop, f"f-{n}", status="failed", error="boom", attempts=5)
              for n in range(3)]
    add_delivery(pg_db, shop, "ok", status="processed")

    first = rq_client.get(f"{BASE}/deliveries?status=failed&limit=2", headers=auth(token))
    assert first.status_code == 200
    page = first.get_json()
    assert [d["id"] for d in page["data"]] == [failed[2], failed[1]]
    item = page["data"][0]
    assert item["status"] == "failed" and item["last_error"] == "boom" and item["attempts"] == 5
    assert {"platform", "topic", "received_at", "processed_at"} <= set(item)
    assert "body" not in item and "headers" not in item
    assert "shopper@example.test" not in first.get_data(as_text=True)

    second = rq_client.get(f"{BASE}/deliveries?status=failed&limit=2&cursor={page['next_cursor']}",
                           headers=auth(token))
    assert [d["id"] for d in second.get_json()["data"]] == [failed[0]]
    assert second.get_json()["next_cursor"] is None

    everything = rq_client.get(f"{BASE}/deliveries", headers=auth(token)).get_json()
    assert len(everything["data"]) == 4
    assert rq_client.get(f"{BASE}/deliveries?status=lost", headers=auth(token)).status_code == 422


def test_replay_resets_queues_and_audits(rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    user, token = factory.staff(shop, "admin")
    delivery_id = add_delivery(pg_db, shop, "f-1", status="failed", error="timeout", attempts=5)

    response = rq_client.post(f"{BASE}/deliveries/{delivery_id}/replay", headers=auth(token))

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["attempts"]) == (delivery_id, "received", 0)
    assert [j.args for j in webhook_jobs(redis_url)] == [(delivery_id,)]
    with pg_db.session() as s:
        assert s.get(WebhookDelivery, delivery_id).status == "received"
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.replay")).one()
    assert (event.shop_id, event.staff_user_id, event.target_id) == (shop.id, user.id, str(delivery_id))
    assert event.before["status"] == "failed" and event.before["last_error"] == "timeout"


def test_other_shops_deliveries_are_not_found(rq_client, factory, pg_db, redis_url):
    mine, theirs = factory.shop("shopify"), factory.shop("woocommerce")
    _, token = factory.staff(mine, "owner")
    their_delivery = add_delivery(pg_db, theirs, "theirs", status="failed")

    replay = rq_client.post(f"{BASE}/deliveries/{their_delivery}/replay", headers=auth(token))
    listing = rq_client.get(f"{BASE}/deliveries", headers=auth(token)).get_json()

    assert replay.status_code == 404
    assert listing["data"] == []
    assert webhook_jobs(redis_url) == []
    with pg_db.session() as s:
        assert s.get(WebhookDelivery, their_delivery).status == "failed"


def test_support_and_viewer_cannot_list_or_replay(rq_client, factory, pg_db, redis_url):
    shop = factory.shop("shopify")
    delivery_id = add_delivery(pg_db, shop, "f-1", status="failed")
    for role in ("support", "viewer"):
        _, token = factory.staff(shop, role)
        assert rq_client.get(f"{BASE}/deliveries", headers=auth(token)).status_code == 403
        assert rq_client.post(f"{BASE}/deliveries/{delivery_id}/replay",
                              headers=auth(token)).status_code == 403
    assert rq_client.get(f"{BASE}/deliveries").status_code == 401
    assert webhook_jobs(redis_url) == []
    assert count_deliveries(pg_db, status="failed") == 1
