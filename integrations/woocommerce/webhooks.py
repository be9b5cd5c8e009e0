"""WooCommerce webhook signatures and the inbox key of a delivery.

`X-WC-Webhook-Signature` is base64 HMAC-SHA256 of the raw body with the webhook's secret
(the store's own secret per webhook, kept in the shop's `credentials["webhook_secret"]`).
The body is `wp_json_encode` output (`\\/` and `\\uXXXX` escapes), so only the raw bytes
verify; re-serialised JSON does not.

WooCommerce's `X-WC-Webhook-Delivery-ID` is `wp_hash(webhook_id . unix_second)`: two
deliveries of one webhook in the same second share it, so it cannot identify a delivery.
The inbox key is built from the body instead (see `delivery_key`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from integrations import signatures

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
HEADER_PREFIX = "X-WC-Webhook-"
MAX_KEY_LENGTH = 200  # webhook_deliveries.delivery_key


sign = signatures.sign
verify = signatures.verify


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """WooCommerce's delivery-URL check: a form body `webhook_id=N` and no `X-WC-Webhook-*`
    headers. It must get a 200 or the admin screen leaves the webhook undelivered."""
    if any(name.lower().startswith(HEADER_PREFIX.lower()) for name in headers.keys()):
        return False
    name, sep, value = body.strip().partition(b"=")
    return sep == b"=" and name == b"webhook_id" and value.isdigit()


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def delivery_key(topic: str, payload: Mapping[str, Any], body: bytes) -> str:
    """The inbox key: one per resource state, so a replay of the same state is a duplicate
    and a newer state (a later `date_modified`) is a new delivery.

    - `{topic}:{id}:{date_modified_gmt or date_modified}` for resources with dates;
    - `{topic}:{id}` for `*.deleted`, whose body is only `{"id": N}`;
    - `{topic}:sha256:{hex}` of the raw body for anything else.
    """
    resource_id = _scalar(payload.get("id"))
    modified = _scalar(payload.get("date_modified_gmt")) or _scalar(payload.get("date_modified"))
    if resource_id and modified:
        key = f"{topic}:{resource_id}:{modified}"
    elif resource_id and topic.endswith(".deleted"):
        key = f"{topic}:{resource_id}"
    else:
        key = ""
    if not key or len(key) > MAX_KEY_LENGTH:
        key = f"{topic}:sha256:{hashlib.sha256(body).hexdigest()}"
    return key
