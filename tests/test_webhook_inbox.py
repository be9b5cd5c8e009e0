"""The inbox and its sweeper on PostgreSQL and a real Redis: once-only storage decided by
the unique key, queueing only after commit, and nothing left behind when Redis was down."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import webhook_support
from sqlalchemy import select
from webhook_support import (
    CLOSED_REDIS,
    count_deliveries,
    shopify_body,
    shopify_headers,
    webhook_jobs,
)

from app import create_app
from app.jobs import queues
from app.jobs.sweeper import requeue_unprocessed
from app.models import Customer, WebhookDelivery
from app.models.base import utcnow
from webhooks import inbox

# Fixtures shared by the webhook tests.
restore_runtime = webhook_support.restore_runtime
rq_app = webhook_support.rq_app
rq_client = webhook_support.rq_client
rq_settings = webhook_support.rq_settings


@pytest.fixture
def worker_runtime(rq_settings, pg_db, restore_runtime):
    """What a cron worker has: the runtime on this database, jobs going to Redis."""
    from app.runtime import init_runtime

    init_runtime(rq_settings, pg_db)


def store(db, shop, key, body=b'{"id":1}'):
    with db.session() as s:
        delivery_id, created = inbox.store_delivery(
            s, shop.id, "shopify", "orders/paid", key, {"X-Shopify-Topic": "orders/paid"}, body)
        s.commit()
        return delivery_id, created


def test_store_delivery_returns_the_first_row_for_a_duplicate(pg_db, factory):
    shop = factory.shop("shopify")
    first_id, first_created = store(pg_db, shop, "w-1")
    again_id, again_created = store(pg_db, shop, "w-1", body=b'{"id":1,"retry":true}')
    assert (first_created, again_created) == (True, False)
    assert again_id == first_id
    with pg_db.session() as s:
        assert s.get(WebhookDelivery, first_id).body == b'{"id":1}'


def test_a_duplicate_does_not_undo_other_work_in_the_same_transaction(pg_db, factory):
    """A duplicate is an ON CONFLICT no-op: the surrounding transaction survives."""
    shop = factory.shop("shopify")
    store(pg_db, shop, "w-1")
    with pg_db.transaction() as s:
        s.add(Customer(shop_id=shop.id, platform_id="c-1", email="c1@example.test"))
        s.flush()
        _, created = inbox.store_delivery(s, shop.id, "shopify", "orders/paid", "w-1", {}, b"{}")
        assert created is False
    with pg_db.session() as s:
        assert s.scalar(select(Customer.platform_id).where(Customer.shop_id == shop.id)) == "c-1"


def test_concurrent_copies_of_one_delivery_store_one_row(pg_db, factory):
    shop = factory.shop("shopify")
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []

    def deliver():
        try:
            with pg_db.session() as s:
                barrier.wait()
                _, created = inbox.store_delivery(s, shop.id, "shopify", "orders/paid", "race", {}, b"{}")
                s.commit()
                results.append(created)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert count_deliveries(pg_db) == 1


def test_sweeper_queues_what_redis_missed_and_only_once(
        rq_settings, pg_db, factory, redis_url, restore_runtime):
    shop = factory.shop("shopify")
    down = create_app(rq_settings.with_overrides(redis_url=CLOSED_REDIS), db=pg_db).test_client()
    body = shopify_body()
    assert down.post("/webhooks/shopify", data=body,
                     headers=shopify_headers(body, shop.domain)).status_code == 200
    with pg_db.session() as s:
        missed = s.scalars(select(WebhookDelivery)).one()
    assert missed.enqueued_at is None

    # Still down: nothing lands, nothing is marked.
    assert requeue_unprocessed(older_than_seconds=0) == 0
    assert count_deliveries(pg_db, enqueued_at=None) == 1

    queues.configure(redis_url)  # Redis is back
    assert requeue_unprocessed(older_than_seconds=60) == 0  # too fresh: its receiver may be busy
    assert requeue_unprocessed(older_than_seconds=0) == 1
    assert [j.args for j in webhook_jobs(redis_url)] == [(missed.id,)]
    with pg_db.session() as s:
        assert s.get(WebhookDelivery, missed.id).enqueued_at is not None

    assert requeue_unprocessed(older_than_seconds=0) == 0  # a second run queues nothing new
    assert len(webhook_jobs(redis_url)) == 1


def test_sweeper_requeues_stale_jobs_and_leaves_finished_ones(pg_db, factory, redis_url,
                                                             worker_runtime):
    shop = factory.shop("shopify")
    ids = {}
    for key in ("stale", "recent", "processed", "failed"):
        ids[key], _ = store(pg_db, shop, key)
    long_ago = utcnow() - timedelta(hours=2)
    with pg_db.transaction() as s:
        for key, delivery_id in ids.items():
            row = s.get(WebhookDelivery, delivery_id)
            row.received_at = long_ago
            row.enqueued_at = utcnow() if key == "recent" else long_ago
            row.status = key if key in ("processed", "failed") else "received"

    assert requeue_unprocessed(older_than_seconds=60) == 1
    assert [j.args for j in webhook_jobs(redis_url)] == [(ids["stale"],)]


def test_sweeper_works_in_chunks(pg_db, factory, redis_url, worker_runtime):
    shop = factory.shop("shopify")
    for n in range(7):
        store(pg_db, shop, f"chunk-{n}")
    assert requeue_unprocessed(older_than_seconds=0, chunk_size=3) == 7
    assert len(webhook_jobs(redis_url)) == 7
    assert count_deliveries(pg_db, enqueued_at=None) == 0
