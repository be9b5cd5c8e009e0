"""WooCommerce REST (`wc/v3`) through the official `woocommerce` package, for reconciliation.

Authentication (WooCommerce REST API docs): over HTTPS the package sends the consumer
key and secret as HTTP basic auth; over plain HTTP it signs each request with OAuth 1.0a
"one-legged" (HMAC-SHA256, the consumer secret plus "&" as key). Plain HTTP is refused
unless ALLOW_HTTP_STORES is set (local stores and tests only).

Listing: `GET /orders?modified_after=…&dates_are_gmt=true&orderby=modified&order=asc
&per_page=100&page=N` until `X-WP-TotalPages`. Page-number paging over a list sorted by
modification time can skip an order when another one is modified mid-walk (it jumps to
the end and everything behind it shifts one place left), so after a walk we compare the
distinct ids seen with `X-WP-Total` and walk again when one is missing.

Coupons for redemptions (`create_discount`) are built in `integrations.woocommerce.coupons`
and sent through `send`, which retries network errors, timeouts, 429 and 5xx and then
raises `PlatformTemporaryError`. Sending a coupon create again is safe: the code is unique,
so a create that did land answers "already exists".
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from woocommerce import API

from app.loyalty.events import InvalidPayload, OrderEvent
from integrations.base import (
    CreatedDiscount,
    DiscountSpec,
    PlatformAuthError,
    PlatformConfigError,
    PlatformError,
    PlatformTemporaryError,
    shop_credentials,
)
from integrations.woocommerce import adapter, coupons

log = logging.getLogger(__name__)

PER_PAGE = 100  # the REST API's maximum
MAX_WALKS = 3
MAX_SERVER_RETRIES = 3
TIMEOUT_SECONDS = 30


class WooCommerceClient:
    platform = "woocommerce"

    def __init__(
        self,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        allow_http: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        per_page: int = PER_PAGE,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        store_url = store_url.strip().rstrip("/")
        if store_url.startswith("http://"):
            if not allow_http:
                raise PlatformConfigError(
                    f"store URL {store_url} is plain http; WooCommerce keys are only sent over https "
                    "(set ALLOW_HTTP_STORES=1 for a local store)"
                )
        elif not store_url.startswith("https://"):
            raise PlatformConfigError(f"store URL {store_url!r} must start with https://")
        self.store_url = store_url
        self.per_page = per_page
        self.invalid = 0  # orders skipped because their JSON cannot be read
        self._sleep = sleep
        self._api = API(
            url=store_url,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            version="wc/v3",
            query_string_auth=False,
            timeout=timeout,
        )

    @classmethod
    def for_shop(cls, shop: Any, settings: Any, **options: Any) -> WooCommerceClient:
        keys = shop_credentials(shop, "consumer_key", "consumer_secret")
        return cls(
            shop.domain, keys["consumer_key"], keys["consumer_secret"],
            allow_http=settings.allow_http_stores, **options,
        )

    def __repr__(self) -> str:  # never show the keys
        return f"WooCommerceClient({self.store_url!r})"

    def iter_orders_updated_since(self, since: datetime) -> Iterator[OrderEvent]:
        """Orders modified at or after `since`, oldest modification first."""
        for walk in range(1, MAX_WALKS + 1):
            seen: set[int] = set()
            total = 0
            page = 1
            while True:
                orders, total, total_pages = self.list_orders(since, page)
                for order in orders:
                    if isinstance(order, dict) and isinstance(order.get("id"), int):
                        seen.add(order["id"])
                    try:
                        event = adapter.to_event("order.updated", order)
                    except InvalidPayload as exc:
                        self.invalid += 1
                        log.warning("woocommerce %s: order %s cannot be read: %s", self.store_url,
                                    order.get("id") if isinstance(order, dict) else "?", exc)
                        continue
                    if isinstance(event, OrderEvent):
                        yield event
                if page >= total_pages or not orders:
                    break
                page += 1
            if len(seen) >= total:
                return
            log.warning(
                "woocommerce %s: the order list changed while paging (%d of %d seen); walking again (%d)",
                self.store_url, len(seen), total, walk,
            )
        raise PlatformError(f"WooCommerce {self.store_url}: orders kept changing while paging; try again later")

    def list_orders(self, since: datetime, page: int) -> tuple[list[dict], int, int]:
        """One page: (orders, X-WP-Total, X-WP-TotalPages)."""
        params = {
            # `modified_after` is exclusive; one second earlier makes it "at or after".
            "modified_after": _gmt(since - timedelta(seconds=1)),
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
            "per_page": self.per_page,
            "page": page,
        }
        response = self._get("orders", params)
        try:
            body = response.json()
        except ValueError:
            raise PlatformError(f"WooCommerce {self.store_url} answered with a body that is not JSON") from None
        if not isinstance(body, list):
            raise PlatformError(f"WooCommerce {self.store_url} answered the order list with {type(body).__name__}")
        total = _header_int(response, "X-WP-Total", len(body))
        total_pages = _header_int(response, "X-WP-TotalPages", 1)
        return body, total, total_pages

    def create_discount(self, spec: DiscountSpec) -> CreatedDiscount:
        return coupons.create_coupon(self, spec)

    def send(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
             data: Any = None) -> requests.Response:
        """One REST call; any answer below 500 except 429 is returned for the caller to read."""
        attempt = 0
        while True:
            attempt += 1
            try:
                if method == "GET":
                    response = self._api.get(endpoint, params=dict(params or {}))
                elif method == "PUT":
                    response = self._api.put(endpoint, data, params=dict(params or {}))
                else:
                    response = self._api.post(endpoint, data, params=dict(params or {}))
            except requests.RequestException as exc:
                if attempt > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"WooCommerce {self.store_url} unreachable: {exc.__class__.__name__}") from exc
                self._backoff(attempt, None)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                if attempt > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"WooCommerce {self.store_url} answered HTTP {status}: {wp_error(response)}")
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            return response

    def _get(self, endpoint: str, params: dict[str, Any]) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._api.get(endpoint, params=dict(params))
            except requests.RequestException as exc:
                if attempt > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"WooCommerce {self.store_url} unreachable: {exc.__class__.__name__}") from exc
                self._backoff(attempt, None)
                continue
            status = response.status_code
            if status == 200:
                return response
            if status in (429, 502, 503, 504) or status >= 500:
                if attempt > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"WooCommerce {self.store_url} answered HTTP {status}: {wp_error(response)}")
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            if status in (401, 403):
                raise PlatformAuthError(
                    f"WooCommerce {self.store_url} rejected the API keys (HTTP {status}: {wp_error(response)}); "
                    "the merchant must reconnect the store"
                )
            raise PlatformError(f"WooCommerce {self.store_url} answered HTTP {status}: {wp_error(response)}")

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        try:
            wait = float(retry_after) if retry_after else float(min(2 ** (attempt - 1), 30))
        except ValueError:
            wait = float(min(2 ** (attempt - 1), 30))
        log.info("woocommerce %s: retrying in %.1fs (attempt %d)", self.store_url, wait, attempt)
        self._sleep(min(max(wait, 0.0), 60.0))


def wp_error(response: requests.Response) -> str:
    """A WordPress REST error `{"code","message","data":{"status"}}` as `code: message`
    (messages may carry HTML entities such as `&quot;`)."""
    try:
        body = response.json()
    except ValueError:
        return "non-JSON body"
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return f"{body['code']}: {html.unescape(str(body.get('message', '')))[:300]}"
    return str(body)[:200]


def _gmt(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _header_int(response: requests.Response, name: str, default: int) -> int:
    try:
        return int(response.headers.get(name, default))
    except (TypeError, ValueError):
        return default
