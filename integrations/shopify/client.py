"""Shopify Admin GraphQL over HTTP, for reconciliation.

`requests` rather than ShopifyAPI's `shopify.GraphQL`: that client keeps the site and token
in process-wide class state (unsafe with several shops in one worker) and prints error
bodies. The endpoint is `SHOPIFY_SHOP_ORIGIN` with `{shop}` filled in, plus
`/admin/api/{version}/graphql.json`, so tests point it at a local fake.

Rate limits (shopify.dev "API rate limits"): the GraphQL Admin API is cost-based. A query
that does not fit the bucket answers `errors[].extensions.code == "THROTTLED"` with
`extensions.cost.throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}`; we
wait (requested cost − currently available) / restoreRate seconds. A plain HTTP 429 is
waited out per its `Retry-After`. 5xx and network errors are retried with backoff; when
they persist the error is `PlatformTemporaryError`.

Discount codes (`create_discount`) are built in `integrations.shopify.discounts`. An
HTTP 401 there is answered by one token refresh (`integrations.shopify.tokens`) when the
shop has a refresh token, then the request is sent once more; order queries (`read`) do
the same.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests

from app.loyalty.events import InvalidPayload, OrderEvent
from integrations.base import (
    CreatedDiscount,
    DiscountSpec,
    PlatformAuthError,
    PlatformError,
    PlatformTemporaryError,
    shop_credentials,
)
from integrations.shopify import discounts, graphql_orders

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 50
MAX_THROTTLE_WAITS = 8
MAX_SERVER_RETRIES = 3
DEFAULT_RETRY_AFTER = 2.0
TIMEOUT_SECONDS = 30


class TokenRejected(PlatformAuthError):
    """HTTP 401: the access token itself is not (or no longer) valid."""


class ShopifyClient:
    platform = "shopify"

    def __init__(
        self,
        domain: str,
        access_token: str,
        *,
        shop_origin: str = "https://{shop}",
        api_version: str,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
        timeout: float = TIMEOUT_SECONDS,
        session: requests.Session | None = None,
        token_refresher: Callable[[str], str] | None = None,
    ) -> None:
        self.domain = domain
        self.api_version = api_version
        self.endpoint = shop_origin.format(shop=domain).rstrip("/") + f"/admin/api/{api_version}/graphql.json"
        self._token = access_token
        # Called with the token Shopify refused; returns a fresh one (expiring offline tokens).
        self._token_refresher = token_refresher
        self.invalid = 0  # orders skipped because their node cannot be read
        self._sleep = sleep
        self.page_size = page_size
        self.timeout = timeout
        self._http = session or requests.Session()

    @classmethod
    def for_shop(cls, shop: Any, settings: Any, **options: Any) -> ShopifyClient:
        """`options` reach `__init__`; `db=` is the database the refreshed token is stored in
        (default: the runtime's). A token that expires within `tokens.REFRESH_MARGIN` is
        refreshed before the client is built."""
        token = shop_credentials(shop, "access_token")["access_token"]
        db = options.pop("db", None)
        if (shop.credentials or {}).get("refresh_token"):
            from integrations.shopify.tokens import fresh_access_token

            token = fresh_access_token(shop, settings, db=db) or token  # refreshed before expiry
        if "token_refresher" not in options and (shop.credentials or {}).get("refresh_token"):
            from integrations.shopify.tokens import refresh_access_token

            def refresher(failed_token: str) -> str:
                return refresh_access_token(shop, settings, failed_token=failed_token, db=db)

            options["token_refresher"] = refresher
        return cls(
            shop.domain, token, shop_origin=settings.shopify_shop_origin,
            api_version=settings.shopify_api_version, **options,
        )

    def __repr__(self) -> str:  # never show the token
        return f"ShopifyClient({self.domain!r})"

    # -- orders ----------------------------------------------------------------------------

    def iter_orders_updated_since(self, since: datetime) -> Iterator[OrderEvent]:
        """Orders with `updated_at >= since`, sorted by update time, cursor-paginated.

        Cursor pagination is keyset-based: an order updated while we page moves behind the
        cursor and is simply seen again later, never skipped.
        """
        search = graphql_orders.updated_since_query(_iso(since))
        cursor: str | None = None
        while True:
            data = self.read(
                graphql_orders.ORDERS_QUERY,
                {"first": self.page_size, "cursor": cursor, "query": search},
            )
            connection = (data or {}).get("orders")
            if not isinstance(connection, dict):
                raise PlatformError("Shopify answered without an orders connection")
            for node in connection.get("nodes") or []:
                try:
                    if isinstance(node, dict) and graphql_orders.needs_full_fetch(node):
                        event = self.order_in_full(node["id"])
                    else:
                        event = graphql_orders.order_event_from_node(node)
                except InvalidPayload as exc:
                    self.invalid += 1
                    log.warning("shopify %s: order %s cannot be read: %s", self.domain,
                                node.get("id") if isinstance(node, dict) else "?", exc)
                    continue
                yield event
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return
            cursor = page_info.get("endCursor")
            if not cursor:
                raise PlatformError("Shopify reported another page but gave no cursor")

    def order_in_full(self, order_gid: str) -> OrderEvent:
        """One order with every line item page and larger refund lists."""
        data = self.read(graphql_orders.ORDER_QUERY, {"id": order_gid, "linesCursor": None})
        node = (data or {}).get("order")
        if not isinstance(node, dict):
            raise PlatformError(f"Shopify did not return order {order_gid}")
        extra_lines: list[dict] = []
        page = node.get("lineItems") or {}
        while (page.get("pageInfo") or {}).get("hasNextPage"):
            more = self.read(
                graphql_orders.ORDER_QUERY,
                {"id": order_gid, "linesCursor": page["pageInfo"].get("endCursor")},
            )
            page = ((more or {}).get("order") or {}).get("lineItems") or {}
            extra_lines.extend(page.get("nodes") or [])
        if graphql_orders.needs_full_fetch(
            {"refunds": node.get("refunds")}, refunds_limit=graphql_orders.FULL_REFUNDS
        ):
            raise PlatformError(f"order {order_gid} has more refunds or refund lines than can be read")
        return graphql_orders.order_event_from_node(node, extra_lines)

    # -- discount codes ----------------------------------------------------------------------

    def create_discount(self, spec: DiscountSpec) -> CreatedDiscount:
        """The single-use code on Shopify (see `integrations.shopify.discounts`). A refused
        token is refreshed once when the shop has a refresh token; nothing was created by
        the refused request, so sending it again is safe."""
        return self._with_fresh_token("discount", lambda: discounts.create_discount(self, spec))

    # -- transport ---------------------------------------------------------------------------

    def read(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """`execute` for queries (nothing is written, so a retry is always safe): a refused
        token is refreshed once when the shop has a refresh token, then asked again."""
        return self._with_fresh_token("query", lambda: self.execute(query, variables))

    def _with_fresh_token(self, what: str, send: Callable[[], T]) -> T:
        """`send()`; when Shopify refuses the token and the shop has a refresh token, refresh
        it once and `send()` again (the caller vouches that a refused request changed nothing)."""
        try:
            return send()
        except TokenRejected:
            if self._token_refresher is None:
                raise
            failed = self._token
        self._token = self._token_refresher(failed)
        log.info("shopify %s: retrying the %s with a refreshed token", self.domain, what)
        return send()

    def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one GraphQL request; return `data`, waiting out throttling."""
        throttled = server_errors = 0
        while True:
            try:
                response = self._http.post(
                    self.endpoint,
                    json={"query": query, "variables": variables},
                    headers={
                        "X-Shopify-Access-Token": self._token,
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                    },
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                server_errors += 1
                if server_errors > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"Shopify {self.domain} unreachable: {exc.__class__.__name__}") from exc
                self._backoff(server_errors)
                continue

            status = response.status_code
            if status in (401, 403):
                raise (TokenRejected if status == 401 else PlatformAuthError)(
                    f"Shopify rejected the access token for {self.domain} (HTTP {status}: "
                    f"{_error_text(response)}); the merchant must reinstall the app"
                )
            if status == 429:
                throttled += 1
                if throttled > MAX_THROTTLE_WAITS:
                    raise PlatformTemporaryError(f"Shopify {self.domain} kept answering 429")
                wait = _retry_after(response.headers.get("Retry-After"))
                log.info("shopify %s: HTTP 429, waiting %.1fs", self.domain, wait)
                self._sleep(wait)
                continue
            if status >= 500:
                server_errors += 1
                if server_errors > MAX_SERVER_RETRIES:
                    raise PlatformTemporaryError(
                        f"Shopify {self.domain} answered HTTP {status} {MAX_SERVER_RETRIES + 1} times")
                self._backoff(server_errors)
                continue
            if status != 200:
                raise PlatformError(f"Shopify {self.domain} answered HTTP {status}: {_error_text(response)}")

            try:
                body = response.json()
            except ValueError:
                raise PlatformError(f"Shopify {self.domain} answered with a body that is not JSON") from None
            errors = body.get("errors") if isinstance(body, dict) else None
            if not errors:
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, dict):
                    raise PlatformError(f"Shopify {self.domain} answered without data")
                return data

            codes = {((e or {}).get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                throttled += 1
                if throttled > MAX_THROTTLE_WAITS:
                    raise PlatformTemporaryError(f"Shopify {self.domain} stayed throttled")
                wait = throttle_wait(body.get("extensions"))
                log.info("shopify %s: throttled, waiting %.1fs", self.domain, wait)
                self._sleep(wait)
                continue
            if "MAX_COST_EXCEEDED" in codes and variables.get("first", 0) > 1:
                # One page is too expensive: ask for fewer orders per page from now on.
                self.page_size = max(1, variables["first"] // 2)
                variables = {**variables, "first": self.page_size}
                log.info("shopify %s: query too expensive, page size now %d", self.domain, self.page_size)
                continue
            if "ACCESS_DENIED" in codes:
                raise PlatformAuthError(
                    f"Shopify denied access for {self.domain} (missing read_orders scope?): {_messages(errors)}"
                )
            raise PlatformError(f"Shopify {self.domain} GraphQL errors: {_messages(errors)}")

    def _backoff(self, attempt: int) -> None:
        wait = min(2 ** (attempt - 1), 30)
        log.info("shopify %s: retrying in %ss (attempt %d)", self.domain, wait, attempt)
        self._sleep(wait)


def throttle_wait(extensions: Any) -> float:
    """Seconds until the bucket holds the requested cost: (requested − available) / rate."""
    cost = (extensions or {}).get("cost") if isinstance(extensions, dict) else None
    if not isinstance(cost, dict):
        return DEFAULT_RETRY_AFTER
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        restore_rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if restore_rate <= 0:
        return DEFAULT_RETRY_AFTER
    return max(math.ceil((requested - available) / restore_rate * 10) / 10, 0.1)


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else DEFAULT_RETRY_AFTER
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), 60.0)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _messages(errors: list) -> str:
    return "; ".join(str((e or {}).get("message", e))[:200] for e in errors[:3])


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and body.get("errors"):
        errors = body["errors"]
        return errors[:200] if isinstance(errors, str) else _messages(errors if isinstance(errors, list) else [errors])
    return str(body)[:200]
