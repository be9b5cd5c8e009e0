"""Registering the app's webhook subscriptions on a shop (GraphQL `webhookSubscriptionCreate`).

The topics are the ones `webhooks.receivers` and `integrations.shopify.adapter` act on:
orders (create, updated, paid), refunds/create, customers (create, update) and
app/uninstalled. The mandatory compliance topics (customers/data_request,
customers/redact, shop/redact) cannot be subscribed through the API: they are declared in
the app's configuration (`[webhooks] compliance_topics` in shopify.app.toml, or the
Partner Dashboard), pointing at the same `/webhooks/shopify` address.

From API version 2025-10 the address is `uri` (`callbackUrl` is deprecated). Creating a
subscription that exists answers the userError "Address for this topic has already been
taken": that topic is done. Any other userError stops the install.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from integrations.base import PlatformError

log = logging.getLogger(__name__)

TOPICS: tuple[str, ...] = (
    "ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "REFUNDS_CREATE",
    "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "APP_UNINSTALLED",
)
URI_SINCE_VERSION = "2025-10"
ALREADY_TAKEN = "already been taken"

MUTATION = """
mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}
""".strip()


class SubscriptionRejected(PlatformError):
    """Shopify refused a subscription for a reason other than it already existing."""


@dataclass(frozen=True)
class Subscribed:
    topic: str
    subscription_id: str | None  # None: it already existed
    created: bool


def subscription_input(address: str, api_version: str) -> dict[str, Any]:
    field = "uri" if api_version >= URI_SINCE_VERSION else "callbackUrl"
    return {field: address, "format": "JSON"}


def register_webhooks(client: Any, address: str, topics: tuple[str, ...] = TOPICS) -> list[Subscribed]:
    """Subscribe `address` to every topic; raises `SubscriptionRejected` on the first real
    userError (the earlier topics stay subscribed: a retry finds them "taken")."""
    results: list[Subscribed] = []
    for topic in topics:
        data = client.execute(MUTATION, {"topic": topic,
                                         "webhookSubscription": subscription_input(address, client.api_version)})
        payload = (data or {}).get("webhookSubscriptionCreate")
        if not isinstance(payload, dict):
            raise PlatformError(f"Shopify answered webhookSubscriptionCreate for {topic} without a payload")
        errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
        if errors and all(ALREADY_TAKEN in str(e.get("message", "")).lower() for e in errors):
            results.append(Subscribed(topic, None, created=False))
            continue
        if errors:
            messages = "; ".join(str(e.get("message", e))[:200] for e in errors[:3])
            raise SubscriptionRejected(f"Shopify refused the {topic} webhook subscription: {messages}")
        subscription = payload.get("webhookSubscription") or {}
        results.append(Subscribed(topic, subscription.get("id"), created=True))
    log.info("shopify %s: webhooks subscribed (%d new, %d existing)", getattr(client, "domain", "?"),
             sum(r.created for r in results), sum(not r.created for r in results))
    return results
