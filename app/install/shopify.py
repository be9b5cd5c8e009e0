"""`GET /shopify/install` and `GET /shopify/callback`: installing the app on a Shopify shop.

install: shop domain and `hmac` checked → a one-time `state` nonce (stored hashed as an
`InstallAttempt`, and in a signed, HttpOnly, SameSite=Lax cookie, Secure unless APP_URL is
plain http) → redirect to the shop's `/admin/oauth/authorize`.

callback: `hmac` → shop domain → `timestamp` no older than `MAX_AGE` → `state` equal to
the cookie's and the attempt unused (it is used up now, whatever happens next) → the code
exchanged for an expiring offline token → every required scope granted → webhook
subscriptions registered → the shop row created or re-activated → redirect to the admin.
Any failure before the last step stores nothing about the shop.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict

from app.errors import AppError, Forbidden, Unauthorized
from app.install import attempts
from app.install.pages import NO_STORE, error_response
from app.install.shops import install_shop
from app.openapi import Operation, document
from app.web import db_session, settings
from integrations.base import PlatformAuthError, PlatformError, PlatformTemporaryError
from integrations.shopify import oauth, webhook_subscriptions
from integrations.shopify.client import ShopifyClient
from integrations.shopify.webhooks import signing_secrets

log = logging.getLogger(__name__)

bp = Blueprint("shopify_install", __name__, url_prefix="/shopify")
TAGS = ["install"]
STATE_COOKIE = "shopify_oauth_state"
STATE_SALT = "shopify-oauth-state"
MAX_AGE = timedelta(minutes=5)  # a callback older than this is refused
MAX_CLOCK_SKEW = timedelta(minutes=1)  # a timestamp this far in our future is refused

SHOP_QUERY = "query shopForInstall { shop { name currencyCode ianaTimezone } }"


class BadGateway(AppError):
    status = 502
    code = "platform_error"


class InstallQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    shop: str
    hmac: str
    timestamp: str
    host: str | None = None


class CallbackQuery(InstallQuery):
    code: str
    state: str


def _secure_cookie() -> bool:
    return not settings().app_url.startswith("http://")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings().secret_key, salt=STATE_SALT)


def _verified_shop() -> str:
    """The request's shop, after its `hmac` checked out (401) and its domain (400)."""
    params = list(request.args.items(multi=True))
    if not oauth.verify_query(params, signing_secrets(settings())):
        raise Unauthorized("the request's hmac is missing or wrong", code="invalid_hmac")
    shop = oauth.normalize_shop(request.args.get("shop"))
    if shop is None:
        raise AppError("shop must be a shop domain like acme.myshopify.com", code="invalid_shop")
    return shop


def install() -> Response:
    """Start installing the app on a Shopify shop (redirects to Shopify's consent screen)."""
    shop = oauth.normalize_shop(request.args.get("shop"))
    if shop is None:
        raise AppError("shop must be a shop domain like acme.myshopify.com", code="invalid_shop")
    _verified_shop()
    session = db_session()
    nonce = attempts.start(session, "shopify", shop, attempts.SHOPIFY_TTL)
    session.commit()
    response = redirect(oauth.authorize_url(settings(), shop, nonce), code=302)
    response.set_cookie(
        STATE_COOKIE, _serializer().dumps({"nonce": nonce, "shop": shop}),
        max_age=int(attempts.SHOPIFY_TTL.total_seconds()), path="/shopify", httponly=True,
        secure=_secure_cookie(), samesite="Lax",
    )
    response.headers.update(NO_STORE)
    return response


def _check_timestamp() -> None:
    try:
        stamp = int(request.args.get("timestamp", ""))
    except ValueError:
        raise AppError("timestamp must be a Unix time in seconds", code="invalid_timestamp") from None
    age = time.time() - stamp
    if age > MAX_AGE.total_seconds() or -age > MAX_CLOCK_SKEW.total_seconds():
        raise AppError("this install link is too old (or from the future); start the install again",
                       code="stale_request")


def _check_state(shop: str) -> None:
    state = request.args.get("state") or ""
    raw = request.cookies.get(STATE_COOKIE)
    if not state or not raw:
        raise Forbidden("the install state is missing; start the install again from Shopify", code="invalid_state")
    try:
        cookie: Any = _serializer().loads(raw, max_age=int(attempts.SHOPIFY_TTL.total_seconds()))
    except BadSignature:  # includes SignatureExpired
        raise Forbidden("the install state is invalid or expired; start the install again",
                        code="invalid_state") from None
    if not isinstance(cookie, dict) or cookie.get("shop") != shop or not hmac.compare_digest(
            str(cookie.get("nonce", "")).encode(), state.encode()):
        raise Forbidden("the install state does not match this browser's; start the install again",
                        code="invalid_state")
    session = db_session()
    attempt = attempts.consume(session, "shopify", state, domain=shop)
    session.commit()  # used up, whatever happens next
    if attempt is None:
        raise Forbidden("this install link was already used or has expired; start the install again",
                        code="invalid_state")


def callback() -> Response:
    """Finish installing: Shopify sends the merchant back here with an authorization code."""
    shop = _verified_shop()
    _check_timestamp()
    _check_state(shop)
    code = request.args.get("code") or ""
    if not code:
        raise AppError("code is required", code="invalid_code")
    http_settings = settings()
    try:
        grant = oauth.exchange_code(http_settings, shop, code)
    except PlatformTemporaryError as exc:
        raise BadGateway(f"Shopify could not be reached to finish the install: {exc}") from None
    except PlatformAuthError as exc:
        raise AppError(f"Shopify refused the authorization code; start the install again ({exc})",
                       code="invalid_code") from None
    missing = oauth.missing_scopes(grant.scopes)
    if missing:
        log.warning("shopify %s: install refused, scopes missing: %s", shop, ", ".join(missing))
        raise Forbidden("the app needs these permissions, which were not granted: " + ", ".join(missing)
                        + ". Install the app again and approve every permission.",
                        code="missing_scopes", details={"missing": missing})
    shop_row = finish_install(grant)
    log.info("shopify %s: installed as shop %s", shop, shop_row)
    response = redirect(f"{http_settings.app_url}/admin/", code=302)
    response.delete_cookie(STATE_COOKIE, path="/shopify", httponly=True, secure=_secure_cookie(), samesite="Lax")
    response.headers.update(NO_STORE)
    return response


def finish_install(grant: oauth.TokenGrant, *, client: ShopifyClient | None = None) -> int:
    """Register the webhooks and create or re-activate the shop for a verified grant (the
    OAuth callback, or a token exchange by the embedded admin); returns the shop id."""
    current = settings()
    client = client or ShopifyClient(grant.shop, grant.credentials["access_token"],
                                     shop_origin=current.shopify_shop_origin,
                                     api_version=current.shopify_api_version)
    try:
        details = (client.execute(SHOP_QUERY, {}) or {}).get("shop") or {}
        webhook_subscriptions.register_webhooks(client, f"{current.app_url}/webhooks/shopify")
    except PlatformTemporaryError as exc:
        raise BadGateway(f"Shopify could not be reached to finish the install: {exc}") from None
    except PlatformError as exc:
        raise BadGateway(f"Shopify refused part of the install: {exc}") from None
    currency = details.get("currencyCode") if isinstance(details.get("currencyCode"), str) else None
    session = db_session()
    shop, outcome = install_shop(
        session, platform="shopify", domain=grant.shop, credentials=grant.credentials,
        name=details.get("name") if isinstance(details.get("name"), str) else None,
        currency=currency if currency and len(currency) == 3 else None,
        timezone=details.get("ianaTimezone") if isinstance(details.get("ianaTimezone"), str) else None,
    )
    session.commit()
    log.info("shopify %s: %s (shop %s)", grant.shop, outcome, shop.id)
    return shop.id


def install_from_session_token(session_token: str, *, verify: Any = None) -> int:
    """The embedded admin's install: exchange a raw App Bridge session token for an
    expiring offline token (`integrations.shopify.token_exchange`), require the scopes,
    then `finish_install`. Returns the shop id; refusals are the same errors as the
    callback's (401 for a session token Shopify refuses)."""
    from integrations.shopify.session_tokens import SessionTokenInvalid
    from integrations.shopify.token_exchange import exchange_session_token

    try:
        grant = exchange_session_token(session_token, settings(), verify=verify)
    except SessionTokenInvalid as exc:
        raise Unauthorized(str(exc), code="invalid_session_token") from None
    except PlatformTemporaryError as exc:
        raise BadGateway(f"Shopify could not be reached for the token exchange: {exc}") from None
    except PlatformAuthError as exc:
        raise Unauthorized(f"the session token was refused: {exc}", code="invalid_session_token") from None
    missing = oauth.missing_scopes(grant.scopes)
    if missing:
        raise Forbidden("the app needs these permissions, which were not granted: " + ", ".join(missing),
                        code="missing_scopes", details={"missing": missing})
    return finish_install(grant)


_ERRORS = {400: "shop domain, timestamp or code invalid, or the install link is too old",
           401: "hmac missing or wrong"}

bp.add_url_rule("/install", endpoint="install", view_func=document(install, Operation(
    summary="Start installing the app on a Shopify shop (302 to Shopify's consent screen)",
    tags=TAGS, query=InstallQuery, status=302, content_type="text/html", responses=_ERRORS)))
bp.add_url_rule("/callback", endpoint="callback", view_func=document(callback, Operation(
    summary="Finish the Shopify install: verify, exchange the code, subscribe webhooks (302 to the admin)",
    tags=TAGS, query=CallbackQuery, status=302, content_type="text/html",
    responses={**_ERRORS, 403: "state missing, wrong or already used, or a required scope not granted",
               502: "Shopify could not be reached or refused a webhook subscription"})))
bp.register_error_handler(AppError, error_response)
