"""HTTP receivers for platform webhooks: never lose a delivery, never queue one twice.

Every request goes: size limit → signature over the raw bytes (constant time) → shop →
parse → insert into the inbox (unique key) → commit → queue processing → 200. A duplicate
is acknowledged and not queued again. Redis down: the row is kept and the sweeper queues
it later (still 200). Database down: 503, so the platform retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask, request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.errors import AppError, NotFound, PayloadTooLarge, ServiceUnavailable, Unauthorized
from app.models import Shop
from app.models.base import utcnow
from app.openapi import api_route
from app.web import db_session, settings
from integrations.shopify import webhooks as shopify
from integrations.woocommerce import webhooks as woocommerce
from webhooks import inbox

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_TOPIC_LENGTH = 64  # webhook_deliveries.topic
MAX_WEBHOOK_ID_LENGTH = 200  # webhook_deliveries.delivery_key
MAX_DOMAIN_LENGTH = 255  # shops.domain

RECEIVER_RESPONSES = {
    400: "required header missing, or the body is not a JSON object",
    401: "signature missing or wrong",
    404: "no such shop",
    413: "body larger than WEBHOOK_MAX_BYTES",
    503: "database unavailable; the platform should retry",
}


class WebhookAck(BaseModel):
    ok: bool = True


class BadWebhook(AppError):
    status = 400
    code = "bad_webhook"


@contextmanager
def database_or_503() -> Iterator[None]:
    """A database that cannot be reached answers 503 (the platform retries), never 500."""
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeout) as exc:
        log.error("webhook receiver: database unavailable (%s)", exc.__class__.__name__)
        raise ServiceUnavailable("the database is unavailable; try again",
                                 code="database_unavailable") from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            log.error("webhook receiver: database connection lost")
            raise ServiceUnavailable("the database is unavailable; try again",
                                     code="database_unavailable") from None
        raise


def read_raw_body() -> bytes:
    """The exact bytes that were signed, at most WEBHOOK_MAX_BYTES of them.

    A declared Content-Length over the limit is refused before reading; otherwise at most
    limit + 1 bytes are read, so a body without a (truthful) length cannot exceed it either.
    """
    limit = settings().webhook_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    return body


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadWebhook("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadWebhook("the body must be a JSON object")
    return payload


def required_header(name: str, max_length: int) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise BadWebhook(f"the {name} header is required")
    if len(value) > max_length:
        raise BadWebhook(f"the {name} header is longer than {max_length} characters")
    return value


def accept(shop_id: int, platform: str, topic: str, key: str, headers: dict[str, Any],
           body: bytes) -> WebhookAck:
    """Store once, commit, and queue processing only for a newly stored delivery."""
    session = db_session()
    with database_or_503():
        delivery_id, created = inbox.store_delivery(session, shop_id, platform, topic, key,
                                                    headers, body, enqueued_at=utcnow())
        session.commit()
    if created:
        try:
            inbox.queue_processing(session, [delivery_id], already_stamped=True)
        except Exception:  # the delivery is safe in the inbox; the sweeper queues it
            log.exception("could not queue webhook delivery %s", delivery_id)
            session.rollback()
    else:
        log.info("duplicate %s webhook %s for shop %s acknowledged", platform, topic, shop_id)
    return WebhookAck()


@api_route(bp, "/shopify", methods=["POST"], tags=["webhooks"], response=WebhookAck,
           security="webhookSignature", content_type="application/json",
           responses=RECEIVER_RESPONSES, endpoint="shopify")
def receive_shopify():
    """Receive a Shopify webhook (X-Shopify-Hmac-Sha256 over the raw body)."""
    body = read_raw_body()
    if not shopify.verify(body, request.headers.get(shopify.HMAC_HEADER),
                          shopify.signing_secrets(settings())):
        raise Unauthorized("the webhook signature is missing or wrong", code="invalid_signature")
    domain = required_header(shopify.SHOP_DOMAIN_HEADER, MAX_DOMAIN_LENGTH).lower()
    with database_or_503():
        shop_id = db_session().scalar(
            select(Shop.id).where(Shop.platform == "shopify", Shop.domain == domain)
        )
    if shop_id is None:
        raise NotFound("no shop for this webhook")
    topic = required_header(shopify.TOPIC_HEADER, MAX_TOPIC_LENGTH)
    webhook_id = required_header(shopify.WEBHOOK_ID_HEADER, MAX_WEBHOOK_ID_LENGTH)
    parse_json_object(body)
    headers = inbox.safe_headers(request.headers.items(), shopify.HEADER_PREFIX, shopify.HMAC_HEADER)
    return accept(shop_id, "shopify", topic, webhook_id, headers, body)


@api_route(bp, "/woocommerce/<int:shop_id>", methods=["POST"], tags=["webhooks"],
           response=WebhookAck, security="webhookSignature", content_type="application/json",
           responses=RECEIVER_RESPONSES, endpoint="woocommerce")
def receive_woocommerce(shop_id: int):
    """Receive a WooCommerce webhook (X-WC-Webhook-Signature), or its webhook_id=N ping."""
    body = read_raw_body()
    with database_or_503():
        shop = db_session().scalar(
            select(Shop).where(Shop.id == shop_id, Shop.platform == "woocommerce")
        )
    if shop is None:
        raise NotFound("no shop for this webhook")
    if woocommerce.is_ping(request.headers, body):
        return WebhookAck()
    secret = (shop.credentials or {}).get("webhook_secret") or ""
    if not woocommerce.verify(body, request.headers.get(woocommerce.SIGNATURE_HEADER), [secret]):
        raise Unauthorized("the webhook signature is missing or wrong", code="invalid_signature")
    topic = required_header(woocommerce.TOPIC_HEADER, MAX_TOPIC_LENGTH)
    payload = parse_json_object(body)
    key = woocommerce.delivery_key(topic, payload, body)
    headers = inbox.safe_headers(request.headers.items(), woocommerce.HEADER_PREFIX,
                                 woocommerce.SIGNATURE_HEADER)
    return accept(shop.id, "woocommerce", topic, key, headers, body)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
