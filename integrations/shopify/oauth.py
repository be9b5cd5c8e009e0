"""Shopify OAuth (authorization code grant) for installing the app on a shop.

ShopifyAPI's `shopify.Session` keeps the app secret in process-wide class state and has
no expiring offline tokens, so the pieces live here:

- Every request Shopify sends to the app's URLs (`/shopify/install`, `/shopify/callback`)
  carries `hmac`: hex HMAC-SHA256, keyed with the app secret, over the other query
  parameters sorted by name and joined as `key=value` with `&`
  (shopify.dev, "Verify a request"; documented example: secret `hush`, message
  `code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173`
  → `700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf`). Values are
  taken as sent; Shopify's own libraries form-encode them before signing, so a value with
  characters that encoding changes is accepted under either form. A parameter given
  several times is signed as `key=["a", "b"]`.
- The merchant is sent to `{shop origin}/admin/oauth/authorize` with `client_id`,
  `scope`, `redirect_uri` and a `state` nonce; Shopify sends them back to the
  redirect URI with `code`, `shop`, `state`, `timestamp`, `host` and `hmac`.
- The code is exchanged at `POST {shop origin}/admin/oauth/access_token` with
  `client_id`, `client_secret`, `code` and `expiring=1`, which asks for an expiring
  offline token: the answer has `access_token`, `expires_in` (3600 s), `refresh_token`,
  `refresh_token_expires_in` and `scope` (shopify.dev, "Offline access tokens";
  changelog "Offline access tokens now support expiry and refresh", December 2025).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests

from integrations.shopify.tokens import credentials_from_grant, post_token_request

if TYPE_CHECKING:
    from app.config import Settings

TIMEOUT_SECONDS = 15
# What the app asks for: orders for points and reconciliation, customers for sign-up
# points and the checkout session token's `sub`, discounts for reward codes, the app proxy
# for the storefront widget. Keep in step with widgets/shopify/shopify.app.toml.example.
REQUIRED_SCOPES: tuple[str, ...] = ("read_orders", "read_customers", "write_discounts", "write_app_proxy")
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com$")
SIGNATURE_PARAMS = frozenset({"hmac", "signature"})  # `signature` is the legacy MD5 one


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint granted for one shop, in the form stored on `Shop.credentials`."""

    shop: str
    credentials: dict[str, Any]

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scopes(self.credentials.get("scope"))

    def __repr__(self) -> str:  # never show the tokens
        return f"TokenGrant({self.shop!r}, scope={self.credentials.get('scope')!r})"


def normalize_shop(value: Any) -> str | None:
    """The `*.myshopify.com` domain, lowercased, or None for anything else (a URL, a path,
    another host, an empty or over-long value)."""
    if not isinstance(value, str):
        return None
    domain = value.strip().lower()
    return domain if SHOP_DOMAIN.fullmatch(domain) else None


# -- request signatures ------------------------------------------------------------------


def _grouped(params: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        if key in SIGNATURE_PARAMS:
            continue
        grouped.setdefault(key, []).append(value)
    return grouped


def _messages(params: Iterable[tuple[str, str]]) -> list[str]:
    """The signed message as sent (`key=value`), and Shopify's libraries' form-encoded
    variant when it differs."""
    grouped = _grouped(params)
    pairs: list[tuple[str, str]] = []
    for key in sorted(grouped):
        values = grouped[key]
        if len(values) == 1 and not key.endswith("[]"):
            pairs.append((key, values[0]))
        else:
            pairs.append((key.removesuffix("[]"), "[" + ", ".join(json.dumps(v) for v in values) + "]"))
    plain = "&".join(f"{key}={value}" for key, value in pairs)
    encoded = urlencode(pairs)
    return [plain] if encoded == plain else [plain, encoded]


def sign_query(params: Sequence[tuple[str, str]] | dict[str, str], secret: str) -> str:
    """The hex `hmac` Shopify puts on a request with these parameters."""
    items = list(params.items()) if isinstance(params, dict) else list(params)
    return hmac.new(secret.encode(), _messages(items)[0].encode(), hashlib.sha256).hexdigest()


def verify_query(params: Sequence[tuple[str, str]] | dict[str, str], secrets: Sequence[str]) -> bool:
    """True when the request's `hmac` is right for one of `secrets` (constant time)."""
    items = list(params.items()) if isinstance(params, dict) else list(params)
    provided = [v for k, v in items if k == "hmac"]
    if len(provided) != 1 or not re.fullmatch(r"[0-9a-fA-F]{64}", provided[0]):
        return False
    given = provided[0].lower().encode()
    ok = False
    for secret in secrets:
        if not secret:
            continue
        for message in _messages(items):
            expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest().encode()
            ok |= hmac.compare_digest(expected, given)
    return ok


# -- the authorization code grant ----------------------------------------------------------


def shop_origin(settings: Settings, shop: str) -> str:
    return settings.shopify_shop_origin.format(shop=shop).rstrip("/")


def redirect_uri(settings: Settings) -> str:
    return f"{settings.app_url}/shopify/callback"


def authorize_url(settings: Settings, shop: str, state: str, scopes: Sequence[str] = REQUIRED_SCOPES) -> str:
    """Where the merchant approves the app (offline access: no `grant_options[]`)."""
    query = urlencode({
        "client_id": settings.shopify_api_key,
        "scope": ",".join(scopes),
        "redirect_uri": redirect_uri(settings),
        "state": state,
    })
    return f"{shop_origin(settings, shop)}/admin/oauth/authorize?{query}"


def parse_scopes(value: Any) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(s.strip() for s in value.split(",") if s.strip())


def missing_scopes(granted: Iterable[str], required: Iterable[str] = REQUIRED_SCOPES) -> list[str]:
    """The required scopes the grant lacks; `write_x` includes `read_x`."""
    have = set(granted)
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return [s for s in required if s not in have]


def exchange_code(settings: Settings, shop: str, code: str, *, http: requests.Session | None = None,
                  timeout: float = TIMEOUT_SECONDS, now: datetime | None = None) -> TokenGrant:
    """Trade the authorization code for an expiring offline token. `PlatformAuthError`
    when Shopify refuses the code (used, expired, another app's), `PlatformTemporaryError`
    when the endpoint cannot be reached."""
    body = {"client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret,
            "code": code, "expiring": 1}
    answer = post_token_request(settings, shop, body, http=http, timeout=timeout, what="authorization code")
    return TokenGrant(shop, credentials_from_grant(answer, now or datetime.now(UTC)))
