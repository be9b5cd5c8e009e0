"""WooCommerce's application authentication endpoint (`/wc-auth/v1/authorize`): the store
creates REST API keys for the app after the merchant approves, and POSTs them to us.

The merchant is sent to `{store}/wc-auth/v1/authorize` with `app_name`, `scope`
(`read`, `write` or `read_write`), `user_id` (our reference, echoed back), `return_url`
(where the merchant lands afterwards, with `success=1|0&user_id=…`) and `callback_url`
(which must be https). WooCommerce then POSTs JSON to the callback URL:
`{"key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions"}`, and only
an HTTP 200 answer counts: anything else makes it revoke the new key and show the
merchant an error (developer.woocommerce.com, "REST API authentication",
"Auto generating API keys using our Application Authentication Endpoint").

`user_id` is our one-time connect token, so the callback can be tied to the attempt that
asked for it and nobody can push keys for a store they did not start connecting.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from app.config import Settings

APP_NAME = "Loyalty Loop"
SCOPE = "read_write"
MAX_URL_LENGTH = 255  # shops.domain
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


class InvalidStoreUrl(ValueError):
    """The store URL cannot be connected (scheme, host, shape)."""


def normalize_store_url(raw: str | None, *, allow_http: bool) -> str:
    """The store's base URL as stored in `shops.domain`: scheme and host lowercased, no
    trailing slash, no query, fragment or credentials; a WordPress in a sub-folder keeps
    its path. Plain http only with `allow_http` (ALLOW_HTTP_STORES)."""
    value = (raw or "").strip()
    if not value:
        raise InvalidStoreUrl("store_url is required, e.g. https://shop.example.com")
    if len(value) > MAX_URL_LENGTH:
        raise InvalidStoreUrl(f"store_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidStoreUrl("store_url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "http" and not allow_http:
        raise InvalidStoreUrl("store_url must use https:// (WooCommerce sends API keys to it)")
    if scheme not in ("http", "https"):
        raise InvalidStoreUrl("store_url must start with https://")
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidStoreUrl("store_url must be the store's address only, e.g. https://shop.example.com")
    if not _HOST.fullmatch(host):
        raise InvalidStoreUrl("store_url must name the store's host, e.g. https://shop.example.com "
                              "(an internationalised name in its xn-- form)")
    if not _PATH.fullmatch(parts.path):
        raise InvalidStoreUrl("store_url is not a valid URL")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def callback_url(settings: Settings) -> str:
    return f"{settings.app_url}/woocommerce/callback"


def return_url(settings: Settings) -> str:
    return f"{settings.app_url}/admin/"


def authorize_url(settings: Settings, store_url: str, user_id: str) -> str:
    query = urlencode({
        "app_name": APP_NAME,
        "scope": SCOPE,
        "user_id": user_id,
        "return_url": return_url(settings),
        "callback_url": callback_url(settings),
    })
    return f"{store_url}/wc-auth/v1/authorize?{query}"
