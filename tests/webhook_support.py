"""Shared pieces of the webhook tests: the captured WooCommerce deliveries, signed
Shopify requests, an app whose jobs go to a real Redis (so processing stays out of
receiver tests and the queue can be inspected), and the runtime restored afterwards."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from fixture_files import FIXTURES
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from app.models import WebhookDelivery
from integrations.shopify.webhooks import sign as shopify_sign

WOO_SECRET = "test-secret-123"  # the secret of every webhook in the WooCommerce capture
SHOPIFY_SECRET = "shopify-app-secret-for-tests"
CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def woo_deliveries() -> list[dict]:
    path = FIXTURES / "woocommerce" / "deliveries.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        line["body"] = base64.b64decode(line["body_base64"])
    return lines


def woo_request_headers(delivery: dict) -> dict[str, str]:
    """The captured headers minus the hop-by-hop ones the test client sets itself."""
    skip = {"host", "content-length", "connection", "accept-encoding"}
    return {k: v for k, v in delivery["headers"].items() if k.lower() not in skip}


def shopify_body(name: str = "orders_paid.json") -> bytes:
    return (FIXTURES / "shopify" / name).read_bytes()


def shopify_headers(body: bytes, shop_domain: str, *, secret: str = SHOPIFY_SECRET,
                    topic: str = "orders/paid", webhook_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Triggered-At": "2026-04-02T10:00:00.000000Z",
    }


def count_deliveries(db, **filters) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(WebhookDelivery)
        for name, value in filters.items():
            stmt = stmt.where(getattr(WebhookDelivery, name) == value)
        return s.scalar(stmt)


def webhook_jobs(redis_url: str) -> list:
    """The jobs waiting on the `webhooks` queue, oldest first."""
    return Queue("webhooks", connection=Redis.from_url(redis_url)).get_jobs()


@pytest.fixture
def restore_runtime():
    """Apps built in a test reconfigure the process-wide runtime; put it back after."""
    from app import runtime
    from app.jobs import queues

    saved = (runtime._settings, runtime._db, queues._runner)
    yield
    runtime._settings, runtime._db, queues._runner = saved


@pytest.fixture
def rq_settings(settings, redis_url):
    return settings.with_overrides(redis_url=redis_url, shopify_api_secret=SHOPIFY_SECRET)


@pytest.fixture
def rq_app(rq_settings, pg_db, restore_runtime):
    from app import create_app

    flask_app = create_app(rq_settings, db=pg_db)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def rq_client(rq_app):
    return rq_app.test_client()
