"""Shopify webhook signatures: base64 HMAC-SHA256 of the raw request body, keyed with the
app's API secret (the "client secret"), sent in `X-Shopify-Hmac-Sha256`.

ShopifyAPI only verifies OAuth query strings, so webhook verification lives here. After a
secret rotation Shopify may keep signing with the old secret for up to an hour, which is
why `verify` takes every secret still in use (current first, then the previous one).
"""

from __future__ import annotations

from app.config import Settings
from integrations import signatures

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
HEADER_PREFIX = "X-Shopify-"


sign = signatures.sign
verify = signatures.verify


def signing_secrets(settings: Settings) -> tuple[str, ...]:
    """The app secrets a genuine delivery may be signed with right now."""
    return tuple(s for s in (settings.shopify_api_secret, settings.shopify_previous_api_secret) if s)
