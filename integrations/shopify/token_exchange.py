"""Token exchange: an embedded app trades an App Bridge session token for an offline
access token, without sending the merchant through the OAuth redirects.

`POST {shop origin}/admin/oauth/access_token` with `client_id`, `client_secret`,
`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token` (the raw
session token), `subject_token_type=urn:ietf:params:oauth:token-type:id_token`,
`requested_token_type=urn:shopify:params:oauth:token-type:offline-access-token` and
`expiring=1` (an expiring offline token with a refresh token). An invalid or expired
session token answers HTTP 400 (shopify.dev, "Exchange a session token for an access
token").

The session token is verified first (signature, `aud`, `iss`/`dest`, `exp`/`nbf`) by
`integrations.shopify.session_tokens.verify_session_token`; its `dest` names the shop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests

from integrations.base import PlatformAuthError
from integrations.shopify.oauth import TokenGrant, normalize_shop
from integrations.shopify.tokens import credentials_from_grant, post_token_request

if TYPE_CHECKING:
    from app.config import Settings

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_ACCESS_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
TIMEOUT_SECONDS = 15


def _default_verifier(session_token: str, settings: Settings) -> Any:
    """`verify_session_token` with the app secret, or the previous one during a rotation;
    raises its `SessionTokenInvalid`."""
    from integrations.shopify.session_tokens import SessionTokenInvalid, verify_session_token

    secrets = [s for s in (settings.shopify_api_secret, settings.shopify_previous_api_secret) if s]
    for index, secret in enumerate(secrets):
        try:
            return verify_session_token(session_token, api_key=settings.shopify_api_key, api_secret=secret)
        except SessionTokenInvalid:
            if index == len(secrets) - 1:
                raise
    raise SessionTokenInvalid("the app's API secret is not configured")


def shop_from_claims(claims: Any) -> str:
    """The myshopify domain in a verified session token's `dest` (`https://x.myshopify.com`)."""
    dest = claims.get("dest") if isinstance(claims, dict) else getattr(claims, "dest", None)
    if dest is None and not isinstance(claims, dict):
        dest = getattr(claims, "shop", None)
    shop = normalize_shop(str(dest or "").removeprefix("https://").rstrip("/"))
    if shop is None:
        raise PlatformAuthError("the session token does not name a myshopify.com shop")
    return shop


def exchange_session_token(session_token: str, settings: Settings, *,
                           verify: Callable[[str, Settings], Any] | None = None,
                           http: requests.Session | None = None, timeout: float = TIMEOUT_SECONDS,
                           now: datetime | None = None) -> TokenGrant:
    """An expiring offline token for the shop the verified session token belongs to.

    The verifier's errors propagate unchanged (the caller answers 401); Shopify refusing the
    exchange is `PlatformAuthError`, an unreachable endpoint `PlatformTemporaryError`."""
    claims = (verify or _default_verifier)(session_token, settings)
    shop = shop_from_claims(claims)
    body = {
        "client_id": settings.shopify_api_key,
        "client_secret": settings.shopify_api_secret,
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": session_token,
        "subject_token_type": ID_TOKEN_TYPE,
        "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE,
        "expiring": 1,
    }
    answer = post_token_request(settings, shop, body, http=http, timeout=timeout, what="session token exchange")
    return TokenGrant(shop, credentials_from_grant(answer, now or datetime.now(UTC)))
