"""Refreshing a shop's expiring offline access token.

Since December 2025 Shopify can issue offline access tokens that expire after an hour with
a refresh token (public apps must use them from 2027). A refresh is
`POST {shop origin}/admin/oauth/access_token` with `client_id`, `client_secret`,
`grant_type=refresh_token` and `refresh_token`; the answer carries a new `access_token`,
`expires_in` (seconds), and a new `refresh_token` (Shopify rotates it on every use) with
`refresh_token_expires_in`.
https://shopify.dev/changelog/offline-access-tokens-now-support-expiry-and-refresh
https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens

Because the refresh token rotates, two workers must not both spend the same one: the shop
row is locked (`SELECT … FOR UPDATE`) for the exchange, and a worker that finds a token
different from the one that just failed uses it instead of refreshing again. The new
tokens are stored in the shop's encrypted `credentials` (`access_token`, `refresh_token`,
`expires_at`, `refresh_token_expires_at` as ISO-8601 UTC).
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from integrations.base import PlatformAuthError, PlatformTemporaryError

if TYPE_CHECKING:
    from app.config import Settings
    from app.db import Database

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15
# An access token this close to its `expires_at` is refreshed before it is used (Shopify:
# "proactively refresh tokens a few minutes before they expire").
REFRESH_MARGIN = timedelta(minutes=5)


def token_endpoint(settings: Settings, domain: str) -> str:
    return settings.shopify_shop_origin.format(shop=domain).rstrip("/") + "/admin/oauth/access_token"


def refresh_access_token(shop: Any, settings: Settings, *, failed_token: str | None = None,
                         db: Database | None = None, http: requests.Session | None = None,
                         timeout: float = TIMEOUT_SECONDS, now: datetime | None = None,
                         ahead: bool = False) -> str:
    """A fresh access token for `shop`, stored encrypted on it. Raises `PlatformAuthError`
    when the shop has no refresh token or Shopify refuses it (the merchant must reinstall),
    `PlatformTemporaryError` when the token endpoint cannot be reached.

    With `ahead=True` (a refresh before expiry) the token is refreshed only if, under the
    row lock, it still expires within `REFRESH_MARGIN`: another worker may have done it."""
    from sqlalchemy import select

    from app.models import Shop

    if db is None:
        from app.runtime import get_db

        db = get_db()
    with db.transaction() as session:
        row = session.execute(select(Shop).where(Shop.id == shop.id).with_for_update()).scalar_one()
        credentials = dict(row.credentials or {})
        current = str(credentials.get("access_token") or "")
        if failed_token and current and not hmac.compare_digest(current, failed_token):
            return current  # refreshed by another worker meanwhile
        if ahead and current and not expires_soon(credentials, now or datetime.now(UTC)):
            return current  # refreshed by another worker meanwhile
        refresh_token = credentials.get("refresh_token")
        if not refresh_token:
            raise PlatformAuthError(
                f"Shopify rejected the access token for {row.domain} and there is no refresh token; "
                "the merchant must reinstall the app"
            )
        answer = _exchange(settings, row.domain, str(refresh_token), http or requests.Session(), timeout)
        moment = now or datetime.now(UTC)
        credentials["access_token"] = answer["access_token"]
        credentials["refresh_token"] = answer.get("refresh_token") or refresh_token
        if answer.get("expires_in"):
            credentials["expires_at"] = (moment + timedelta(seconds=int(answer["expires_in"]))).isoformat()
        if answer.get("refresh_token_expires_in"):
            credentials["refresh_token_expires_at"] = (
                moment + timedelta(seconds=int(answer["refresh_token_expires_in"]))).isoformat()
        row.credentials = credentials
        log.info("shopify %s: access token refreshed", row.domain)
        return str(answer["access_token"])


def _exchange(settings: Settings, domain: str, refresh_token: str, http: requests.Session,
              timeout: float) -> dict[str, Any]:
    body = {"client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret,
            "grant_type": "refresh_token", "refresh_token": refresh_token}
    try:
        return post_token_request(settings, domain, body, http=http, timeout=timeout,
                                  what="request to refresh the access token")
    except PlatformAuthError as exc:
        raise PlatformAuthError(f"{exc}; the merchant must reinstall the app") from None


def post_token_request(settings: Settings, shop: str, body: dict[str, Any], *, http: requests.Session | None,
                       timeout: float, what: str) -> dict[str, Any]:
    """One POST to the shop's token endpoint; the JSON answer holding `access_token`."""
    try:
        response = (http or requests.Session()).post(
            token_endpoint(settings, shop), json=body, headers={"Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise PlatformTemporaryError(f"Shopify {shop} token endpoint unreachable: {exc.__class__.__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise PlatformTemporaryError(f"Shopify {shop} token endpoint answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
        reason = answer.get("error") if isinstance(answer, dict) else None
        raise PlatformAuthError(f"Shopify {shop} refused the {what} (HTTP {response.status_code}"
                                f"{': ' + str(reason) if reason else ''})")
    return answer


def credentials_from_grant(answer: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stored form of a token endpoint answer (authorization code, token exchange or
    refresh): the tokens, their expiry as ISO-8601 UTC, and the granted `scope`."""
    credentials: dict[str, Any] = {"access_token": str(answer["access_token"])}
    if answer.get("refresh_token"):
        credentials["refresh_token"] = str(answer["refresh_token"])
    if answer.get("expires_in"):
        credentials["expires_at"] = (now + timedelta(seconds=int(answer["expires_in"]))).isoformat()
    if answer.get("refresh_token_expires_in"):
        credentials["refresh_token_expires_at"] = (
            now + timedelta(seconds=int(answer["refresh_token_expires_in"]))).isoformat()
    if answer.get("scope") is not None:
        credentials["scope"] = str(answer["scope"])
    return credentials


def expires_soon(credentials: dict[str, Any], now: datetime) -> bool:
    """True when the stored access token expires within `REFRESH_MARGIN` (or already has).
    A token without `expires_at` (a non-expiring token) never does."""
    raw = credentials.get("expires_at")
    if not raw:
        return False
    try:
        expires_at = datetime.fromisoformat(str(raw))
    except ValueError:
        return True  # unreadable: refreshing is the safe choice
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return expires_at - now <= REFRESH_MARGIN


def fresh_access_token(shop: Any, settings: Settings, *, db: Database | None = None,
                       http: requests.Session | None = None, now: datetime | None = None) -> str:
    """The shop's access token, refreshed first when it is about to expire and the shop has
    a refresh token; otherwise the stored token as it is."""
    credentials = dict(shop.credentials or {})
    moment = now or datetime.now(UTC)
    if credentials.get("refresh_token") and expires_soon(credentials, moment):
        return refresh_access_token(shop, settings, db=db, http=http, now=moment, ahead=True)
    return str(credentials.get("access_token") or "")
