"""Who is asking from Shopify's checkout or customer-account pages: the session token.

A checkout UI extension cannot sign anything itself; it asks Shopify for a session token
(`shopify.sessionToken.get()` / `useSessionToken().get()`) and sends it to us as
`Authorization: Bearer <token>`. The token is a JWT signed by Shopify with HS256 and the
app's API secret (https://shopify.dev/docs/api/checkout-ui-extensions/apis/session-token),
valid for about five minutes. Its claims:

* `iss` — who issued it (the shop's admin URL); informational.
* `dest` — the shop: its myshopify domain (`shop.myshopify.com`, or
  `https://shop.myshopify.com`). This is how we know the shop.
* `aud` — the app's API key (client id). A token minted for another app is refused.
* `sub` — the signed-in customer's GID (`gid://shopify/Customer/123`); absent for a
  guest or when the app may not read customers.
* `exp`, `nbf`, `iat` — validity window, checked with a few seconds of leeway.
* `jti`, `sid` — token and session ids; not needed to identify the shopper.

Anything malformed, expired, signed with another key or another algorithm (including
`alg: none`) is one `CheckoutTokenError` (401), never another exception.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from widgets.identity import StorefrontAuthError

LEEWAY_SECONDS = 10
MAX_TOKEN_LENGTH = 8192
_MYSHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9\-]*\.myshopify\.com$")
_CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/([0-9]{1,20})$")
_REQUIRED_CLAIMS = ["exp", "nbf", "dest", "aud"]


class CheckoutTokenError(StorefrontAuthError):
    """The checkout session token does not prove which shop and shopper it comes from."""

    code = "invalid_session_token"


@dataclass(frozen=True)
class CheckoutIdentity:
    """A verified session token. `customer_platform_id` None means a guest."""

    shop_domain: str
    customer_platform_id: str | None
    claims: dict[str, Any]


def shop_domain_from_dest(dest: Any) -> str:
    """`shop.myshopify.com` from `dest`, with or without `https://`; anything else refused."""
    if not isinstance(dest, str):
        raise CheckoutTokenError("the session token's dest claim is not a shop")
    host = dest.strip().lower()
    if host.startswith("https://"):
        host = host[len("https://"):]
    host = host.rstrip("/")
    if len(host) > 255 or not _MYSHOPIFY_DOMAIN.match(host):
        raise CheckoutTokenError("the session token's dest claim is not a myshopify.com domain")
    return host


def customer_id_from_sub(sub: Any) -> str | None:
    """The numeric customer id of a `gid://shopify/Customer/<id>` subject; None for a guest."""
    if sub in (None, ""):
        return None
    match = _CUSTOMER_GID.match(sub) if isinstance(sub, str) else None
    if match is None:
        raise CheckoutTokenError("the session token's sub claim is not a customer")
    return match.group(1)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        raise CheckoutTokenError("send the checkout session token as Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise CheckoutTokenError("send the checkout session token as Authorization: Bearer <token>")
    return token


def verify_checkout_token(
    token: str,
    *,
    api_key: str,
    secrets: str | Sequence[str],
    now: datetime,
    expected_shop_domain: str | None = None,
    leeway_seconds: int = LEEWAY_SECONDS,
) -> CheckoutIdentity:
    """Check the signature (HS256 only, with the app secret or, during a rotation, the
    previous one), `aud` = our API key, `exp`/`nbf` against `now` with leeway, and `dest`
    (a myshopify domain; equal to `expected_shop_domain` when given)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    keys = [k for k in keys if k]
    if not keys or not api_key:
        raise CheckoutTokenError("checkout session tokens are not configured")
    claims: dict[str, Any] | None = None
    for key in keys:
        try:
            claims = _decode(token, key, api_key, now, leeway_seconds)
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise CheckoutTokenError(
                "the session token has expired; request a new one", code="expired_session_token"
            ) from None
        except jwt.ImmatureSignatureError:
            raise CheckoutTokenError("the session token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise CheckoutTokenError("the session token was issued for another app") from None
        except jwt.PyJWTError:
            raise CheckoutTokenError("the session token is malformed or not signed with HS256") from None
    if claims is None:
        raise CheckoutTokenError("the session token's signature does not match")
    shop_domain = shop_domain_from_dest(claims.get("dest"))
    if expected_shop_domain is not None and shop_domain != expected_shop_domain.lower():
        raise CheckoutTokenError("the session token belongs to another shop")
    return CheckoutIdentity(
        shop_domain=shop_domain,
        customer_platform_id=customer_id_from_sub(claims.get("sub")),
        claims=claims,
    )


def _decode(token: str, key: str, api_key: str, now: datetime, leeway: int) -> dict[str, Any]:
    # PyJWT reads the clock itself; checking exp/nbf here against `now` keeps tests and
    # frozen clocks honest, so its own time checks are switched off.
    claims = jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        audience=api_key,
        options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False,
                 "verify_iat": False},
    )
    timestamp = int(now.timestamp())
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        raise jwt.InvalidTokenError("exp and nbf must be numbers")
    if timestamp > exp + leeway:
        raise jwt.ExpiredSignatureError("expired")
    if timestamp < nbf - leeway:
        raise jwt.ImmatureSignatureError("not yet valid")
    return claims
