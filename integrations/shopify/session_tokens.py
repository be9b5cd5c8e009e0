"""Shopify session tokens (App Bridge "ID tokens"): the short-lived JWT an embedded app
receives from Shopify's admin, as `Authorization: Bearer <token>` or the `id_token` query
parameter of the app's URL.

Per Shopify's documentation the token is HS256-signed with the app's API secret and its
payload carries `iss` ("https://<shop>.myshopify.com/admin"), `dest`
("https://<shop>.myshopify.com"), `aud` (the app's API key), `sub` (the Shopify staff
user's id), `exp`, `nbf`, `iat`, `jti` and `sid`. A token is accepted only when the
signature verifies with HS256 (no other algorithm, never "none"), `aud` is our API key,
`exp` is in the future and `nbf` in the past (with a few seconds of leeway for clocks),
and `iss` and `dest` name the same `*.myshopify.com` shop.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import jwt

REQUIRED_CLAIMS = ["iss", "dest", "aud", "exp", "nbf"]
_SHOP_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com$")
MAX_TOKEN_LENGTH = 4096


class SessionTokenInvalid(Exception):
    """The session token cannot be trusted; the message says why (never the token)."""


def _host(value: Any, name: str, *, admin: bool) -> str:
    if not isinstance(value, str) or len(value) > 300:
        raise SessionTokenInvalid(f"{name} is not a URL")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.port is not None or parts.query or parts.username:
        raise SessionTokenInvalid(f"{name} must be an https URL of a shop")
    path = parts.path.rstrip("/")
    if path != ("/admin" if admin else ""):
        raise SessionTokenInvalid(f"{name} has an unexpected path")
    if not _SHOP_HOST.match(host):
        raise SessionTokenInvalid(f"{name} is not a *.myshopify.com shop")
    return host


def verify_session_token(token: str, *, api_key: str, api_secret: str, leeway: int = 5) -> dict:
    """The verified payload, with `shop` (the shop's myshopify.com host) added; raises
    SessionTokenInvalid otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise SessionTokenInvalid("no session token, or one far too long")
    if not api_secret or not api_key:
        raise SessionTokenInvalid("the app's API key and secret are not configured")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SessionTokenInvalid("the session token is not a JWT") from None
    if header.get("alg") != "HS256":
        raise SessionTokenInvalid("the session token must be signed with HS256")
    try:
        payload = jwt.decode(
            token,
            api_secret,
            algorithms=["HS256"],
            audience=api_key,
            leeway=leeway,
            options={"require": REQUIRED_CLAIMS, "verify_iss": False},
        )
    except jwt.ExpiredSignatureError:
        raise SessionTokenInvalid("the session token has expired") from None
    except jwt.ImmatureSignatureError:
        raise SessionTokenInvalid("the session token is not valid yet (nbf)") from None
    except jwt.InvalidAudienceError:
        raise SessionTokenInvalid("the session token is for another app (aud)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise SessionTokenInvalid(f"the session token lacks the {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise SessionTokenInvalid("the session token's signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise SessionTokenInvalid(f"the session token is not valid ({exc.__class__.__name__})") from None
    if payload.get("aud") != api_key:  # a list holding our key is not Shopify's shape
        raise SessionTokenInvalid("the session token is for another app (aud)")
    issuer = _host(payload.get("iss"), "iss", admin=True)
    destination = _host(payload.get("dest"), "dest", admin=False)
    if issuer != destination:
        raise SessionTokenInvalid("iss and dest name different shops")
    return {**payload, "shop": destination}
