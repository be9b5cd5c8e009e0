"""Single-use WooCommerce coupons for a redemption (REST `wc/v3`, `POST /coupons`).

What is sent (field names from the WooCommerce REST API "Coupons" reference and the real
exchange in fixtures/woocommerce/coupon-create-fixed-cart.json):

- fixed_amount / variable_amount → `discount_type: fixed_cart`, `amount` a decimal string
  in the store currency ("5.00" from 500 minor units);
- percentage → `discount_type: percent`, `amount` the whole percent ("10");
- free_shipping → `discount_type: fixed_cart`, `amount: "0"`, `free_shipping: true` (the
  store needs a "Free shipping" method that accepts coupons);
- free_product → `discount_type: percent`, `amount: "100"`, `product_ids: [id]`,
  `limit_usage_to_x_items: 1` (one unit free).

Always `email_restrictions: [email]` (WooCommerce's only per-customer restriction),
`usage_limit: 1`, `usage_limit_per_user: 1`, `individual_use` = not combinable,
`date_expires_gmt`, `minimum_amount` when the reward has one, the redemption id in
`meta_data` (`_loyalty_redemption_id`) and a `description`. WooCommerce has no start date:
the coupon works as soon as it exists. It stores codes lowercase (the core
`woocommerce_coupon_code` filter) and matches them case-insensitively at checkout.

Errors are WordPress REST errors `{"code","message","data":{"status"}}` (messages may carry
HTML entities): `woocommerce_rest_coupon_code_already_exists` → `DiscountCodeTaken` with the
existing coupon's id (looked up with `GET /coupons?code=`), 401/403 → `PlatformAuthError`,
other 4xx → `DiscountRejected`; network errors, timeouts and 5xx that survive the client's
retries → `PlatformTemporaryError`.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.base import (
    CreatedDiscount,
    DiscountCodeTaken,
    DiscountRejected,
    DiscountSpec,
    PlatformAuthError,
    PlatformError,
    PlatformTemporaryError,
)
from integrations.money import minor_to_decimal

if TYPE_CHECKING:
    import requests

    from integrations.woocommerce.client import WooCommerceClient

DUPLICATE_CODE = "woocommerce_rest_coupon_code_already_exists"
REDEMPTION_META_KEY = "_loyalty_redemption_id"


def create_coupon(api: WooCommerceClient, spec: DiscountSpec) -> CreatedDiscount:
    """Create `spec` as a coupon on the store behind `api`."""
    response = api.send("POST", "coupons", data=coupon_body(spec))
    body = _json(response)
    if response.status_code in (200, 201) and isinstance(body, dict) and body.get("id"):
        return CreatedDiscount(platform_discount_id=str(body["id"]), code=spec.code)
    code, message = _wp_error(body)
    if code == DUPLICATE_CODE:
        raise DiscountCodeTaken(f"coupon {spec.code} already exists on {api.store_url}",
                                find_coupon_id(api, spec.code))
    status = response.status_code
    if status in (401, 403):
        raise PlatformAuthError(f"WooCommerce {api.store_url} rejected the API keys (HTTP {status}: "
                                f"{code}: {message}); the merchant must reconnect the store")
    if status >= 500:
        raise PlatformTemporaryError(f"WooCommerce {api.store_url} answered HTTP {status}: {code}: {message}")
    if 400 <= status < 500:
        raise DiscountRejected(f"WooCommerce {api.store_url} refused coupon {spec.code}: {code}: {message}")
    raise PlatformError(f"WooCommerce {api.store_url} answered the coupon create with HTTP {status}")


def find_coupon_id(api: WooCommerceClient, code: str) -> str | None:
    """The id of the coupon with `code` (case-insensitive, as WooCommerce matches codes)."""
    try:
        response = api.send("GET", "coupons", params={"code": code})
    except PlatformError:
        return None  # the coupon exists either way; the id is a convenience
    body = _json(response)
    if response.status_code != 200 or not isinstance(body, list):
        return None
    for coupon in body:
        if isinstance(coupon, dict) and str(coupon.get("code", "")).lower() == code.lower() and coupon.get("id"):
            return str(coupon["id"])
    return None


def coupon_body(spec: DiscountSpec) -> dict[str, Any]:
    if not spec.customer_email:
        raise DiscountRejected("a single-customer coupon needs the shopper's email address")
    body: dict[str, Any] = {
        "code": spec.code,
        "description": spec.title,
        "email_restrictions": [spec.customer_email],
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "individual_use": not spec.combines_with_other_discounts,
    }
    body.update(_discount(spec))
    if spec.ends_at is not None:
        body["date_expires_gmt"] = _gmt(spec.ends_at)
    if spec.min_order_minor:
        body["minimum_amount"] = minor_to_decimal(spec.min_order_minor, spec.currency)
    if spec.redemption_id is not None:
        body["meta_data"] = [{"key": REDEMPTION_META_KEY, "value": str(spec.redemption_id)}]
    return body


def _discount(spec: DiscountSpec) -> dict[str, Any]:
    if spec.kind in ("fixed_amount", "variable_amount"):
        if spec.value <= 0:
            raise DiscountRejected(f"a fixed amount coupon needs a positive value, got {spec.value}")
        return {"discount_type": "fixed_cart", "amount": minor_to_decimal(spec.value, spec.currency)}
    if spec.kind == "percentage":
        if not 0 < spec.value <= 100:
            raise DiscountRejected(f"a percentage coupon must be 1–100 %, got {spec.value}")
        return {"discount_type": "percent", "amount": str(spec.value)}
    if spec.kind == "free_shipping":
        return {"discount_type": "fixed_cart", "amount": "0", "free_shipping": True}
    if spec.kind == "free_product":
        if spec.value <= 0:
            raise DiscountRejected(f"a free product coupon needs a product id, got {spec.value}")
        return {"discount_type": "percent", "amount": "100", "product_ids": [spec.value],
                "limit_usage_to_x_items": 1}
    raise DiscountRejected(f"reward kind {spec.kind!r} cannot become a WooCommerce coupon")


def _gmt(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("coupon dates must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _wp_error(body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body["code"], html.unescape(str(body.get("message", "")))[:300]
    return "unknown_error", "the store answered without a WordPress error body"
