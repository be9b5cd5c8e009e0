"""Who is asking: the shop and the signed-in shopper behind a storefront request.

A storefront request names a customer, and a customer id that nobody signed is worth
nothing (anyone can type one). Two schemes prove it:

* **Shopify app proxy** (`/proxy/v1/...`): Shopify forwards `https://<shop>/apps/loyalty/*`
  and adds `shop`, `logged_in_customer_id`, `path_prefix`, `timestamp` and `signature` to
  the query. `signature` is the hex HMAC-SHA256, keyed with the app's API secret, of every
  other query parameter: repeated keys joined by commas, sorted by key, `key=value`
  concatenated with no separator (https://shopify.dev/docs/apps/build/online-store/app-proxies/authenticate-app-proxies).
* **Signed headers** (`/storefront/v1/...`, any storefront): the shop's own server signs
  `"{shop_id}:{customer_platform_id}:{timestamp}"` with the shop's widget secret and the
  page sends `X-Loyalty-Shop`, `X-Loyalty-Customer`, `X-Loyalty-Timestamp`,
  `X-Loyalty-Signature` (see `sign_storefront`). A guest signs an empty customer.

Anything malformed, stale, or signed with the wrong key is the one `StorefrontAuthError`
(401), never another exception: the storefront is the most exposed surface we have.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import Unauthorized

APP_PROXY_MAX_SKEW_SECONDS = 90
HEADER_MAX_SKEW_SECONDS = 300
# Parameters Shopify sends once; a second copy would change what the signature covers
# (values are joined with commas) while our code reads only one of them.
APP_PROXY_SINGLE_PARAMS = ("shop", "timestamp", "signature", "logged_in_customer_id", "path_prefix")
MAX_ID = 2**63 - 1

_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SHOP_ID = re.compile(r"^[1-9][0-9]{0,18}$")
# Platform customer ids: Shopify and WooCommerce use digits; allow a little more (demo
# stores, GIDs' numeric tail) but never ':' which separates the signed fields.
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_MYSHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9\-]*\.myshopify\.com$")


class StorefrontAuthError(Unauthorized):
    """The request does not prove which shop and shopper it comes from."""

    code = "invalid_storefront_signature"


@dataclass(frozen=True)
class ShopifyProxyIdentity:
    """A verified app-proxy request. `customer_platform_id` None means a guest."""

    shop_domain: str
    customer_platform_id: str | None
    path_prefix: str | None
    timestamp: int


@dataclass(frozen=True)
class StorefrontIdentity:
    """A verified signed-headers request. `shop` is whatever `shop_lookup` returned."""

    shop: Any
    shop_id: int
    customer_platform_id: str | None
    timestamp: int


def _secrets(secret: str | Sequence[str] | None) -> list[str]:
    if secret is None:
        return []
    if isinstance(secret, str):
        return [secret] if secret else []
    return [s for s in secret if s]


def _matches(message: bytes, given_hex: str, secrets: Iterable[str]) -> bool:
    """Constant-time comparison against every secret (current and previous), no early exit."""
    given = given_hex.lower().encode("ascii")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected.encode("ascii"), given)
    return matched


def _check_clock(timestamp_text: str, now: datetime, max_skew: int) -> int:
    if not _TIMESTAMP.match(timestamp_text):
        raise StorefrontAuthError("timestamp must be Unix seconds")
    timestamp = int(timestamp_text)
    if abs(int(now.timestamp()) - timestamp) > max_skew:
        raise StorefrontAuthError(
            f"timestamp is more than {max_skew} seconds away from now; sign the request again",
            code="stale_storefront_signature",
        )
    return timestamp


# -- Shopify app proxy --------------------------------------------------------------------


def app_proxy_message(query_items: Iterable[tuple[str, str]]) -> str:
    """What Shopify signs: every parameter but `signature`, repeated keys' values joined by
    commas in the order received, sorted by key, `key=value` with no separator."""
    grouped: dict[str, list[str]] = {}
    for key, value in query_items:
        if key == "signature":
            continue
        grouped.setdefault(key, []).append(value)
    return "".join(f"{key}={','.join(grouped[key])}" for key in sorted(grouped))


def sign_app_proxy(query_items: Iterable[tuple[str, str]], secret: str) -> str:
    """The `signature` Shopify would add to these parameters (for tests and the demo)."""
    message = app_proxy_message(query_items).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_app_proxy(
    query_items: Sequence[tuple[str, str]],
    secret: str | Sequence[str],
    now: datetime,
    *,
    max_skew_seconds: int = APP_PROXY_MAX_SKEW_SECONDS,
) -> ShopifyProxyIdentity:
    """Check a forwarded app-proxy query. `secret` is the app's API secret, or a list
    (current, previous) while a rotated secret is rolled out."""
    items = [(str(k), str(v)) for k, v in query_items]
    counts: dict[str, int] = {}
    for key, _ in items:
        counts[key] = counts.get(key, 0) + 1
    for name in APP_PROXY_SINGLE_PARAMS:
        if counts.get(name, 0) > 1:
            raise StorefrontAuthError(f"the {name} parameter appears more than once")
    values = dict(items)
    signature = values.get("signature", "")
    if not _HEX_SHA256.match(signature):
        raise StorefrontAuthError("the app proxy signature is missing or malformed")
    shop = values.get("shop", "")
    if not _MYSHOPIFY_DOMAIN.match(shop) or len(shop) > 255:
        raise StorefrontAuthError("the shop parameter is missing or not a myshopify.com domain")
    timestamp_text = values.get("timestamp", "")
    secrets = _secrets(secret)
    if not secrets or not _matches(app_proxy_message(items).encode("utf-8"), signature, secrets):
        raise StorefrontAuthError("the app proxy signature does not match")
    # The clock is checked after the signature, so a stale error never leaks to a forger.
    timestamp = _check_clock(timestamp_text, now, max_skew_seconds)
    customer = values.get("logged_in_customer_id", "")
    if customer and not _CUSTOMER_ID.match(customer):
        raise StorefrontAuthError("logged_in_customer_id is malformed")
    return ShopifyProxyIdentity(
        shop_domain=shop,
        customer_platform_id=customer or None,
        path_prefix=values.get("path_prefix"),
        timestamp=timestamp,
    )


# -- signed headers -------------------------------------------------------------------------


def storefront_message(shop_id: int | str, customer_platform_id: str | None, timestamp: int | str) -> str:
    return f"{shop_id}:{customer_platform_id or ''}:{timestamp}"


def sign_storefront(
    shop_id: int, customer_platform_id: str | None, timestamp: int, secret: str
) -> str:
    """The `X-Loyalty-Signature` for a shopper (None or "" for a guest) of a shop: hex
    HMAC-SHA256 keyed with the shop's widget secret over `"{shop_id}:{customer}:{timestamp}"`.
    The store's server computes it; the secret never reaches the browser."""
    message = storefront_message(shop_id, customer_platform_id, timestamp).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return str(value).strip()


def verify_storefront_headers(
    headers: Mapping[str, str] | Any,
    shop_lookup: Callable[[int], tuple[Any, Sequence[str]] | None],
    now: datetime,
    *,
    max_skew_seconds: int = HEADER_MAX_SKEW_SECONDS,
) -> StorefrontIdentity:
    """Check the `X-Loyalty-*` headers. `shop_lookup(shop_id)` returns (shop, secrets)
    — the widget secret and any previous one still accepted — or None for no such shop.
    A missing or empty `X-Loyalty-Customer` is a guest of that shop (still signed)."""
    shop_text = _header(headers, "X-Loyalty-Shop")
    timestamp_text = _header(headers, "X-Loyalty-Timestamp")
    signature = _header(headers, "X-Loyalty-Signature")
    customer = _header(headers, "X-Loyalty-Customer") or None
    if not shop_text or not _SHOP_ID.match(shop_text) or int(shop_text) > MAX_ID:
        raise StorefrontAuthError("X-Loyalty-Shop must be the shop's numeric id")
    if not timestamp_text or not _TIMESTAMP.match(timestamp_text):
        raise StorefrontAuthError("X-Loyalty-Timestamp must be Unix seconds")
    if not signature or not _HEX_SHA256.match(signature):
        raise StorefrontAuthError("X-Loyalty-Signature must be 64 hex characters")
    if customer is not None and not _CUSTOMER_ID.match(customer):
        raise StorefrontAuthError("X-Loyalty-Customer is malformed")
    shop_id = int(shop_text)
    found = shop_lookup(shop_id)
    secrets = _secrets(found[1]) if found is not None else []
    message = storefront_message(shop_text, customer, timestamp_text).encode("utf-8")
    if not secrets or not _matches(message, signature, secrets):
        # An unknown shop and a wrong signature look the same from outside.
        raise StorefrontAuthError("the storefront signature does not match")
    timestamp = _check_clock(timestamp_text, now, max_skew_seconds)
    return StorefrontIdentity(
        shop=found[0], shop_id=shop_id, customer_platform_id=customer, timestamp=timestamp
    )
