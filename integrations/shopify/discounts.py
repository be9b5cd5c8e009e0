"""Single-use Shopify discount codes for a redemption (Admin GraphQL).

One code per redemption, for one customer, usable once:

- fixed_amount / variable_amount → `discountCodeBasicCreate` with
  `customerGets.value.discountAmount {amount, appliesOnEachItem: false}` (a decimal in the
  shop currency, from minor units) on all items;
- percentage → `discountCodeBasicCreate` with `customerGets.value.percentage` as a fraction
  (10 % → 0.1; the API wants 0.0–1.0);
- free_shipping → `discountCodeFreeShippingCreate` for all destinations;
- free_product → `discountCodeBasicCreate`, 100 % off that one product variant. A basic
  discount cannot cap the number of discounted units: `appliesOncePerCustomer` and
  `usageLimit: 1` keep it to one order (see docs/platform-discounts.md).

Always `usageLimit: 1`, `appliesOncePerCustomer: true`, `startsAt`/`endsAt`, `combinesWith`
and, with a minimum order, `minimumRequirement.subtotal.greaterThanOrEqualToSubtotal`.

The customer restriction changed in API 2025-10: `context: {customers: {add: [gid]}}`
replaced the deprecated `customerSelection` (same shape), and earlier versions do not know
`context`. Field reference:
https://shopify.dev/docs/api/admin-graphql/2025-10/input-objects/DiscountCustomerSelectionInput
https://shopify.dev/docs/api/admin-graphql/unstable/input-objects/DiscountContextInput
https://shopify.dev/docs/api/admin-graphql/2025-10/input-objects/DiscountAmountInput
https://shopify.dev/docs/api/admin-graphql/2027-01/input-objects/DiscountCustomerGetsValueInput

Errors: `userErrors` with code TAKEN (or Shopify's "Code must be unique" message) mean the
code exists — for a code derived from our redemption id, an earlier attempt worked — so we
look it up with `codeDiscountNodeByCode` and raise `DiscountCodeTaken` with its id. Other
`userErrors` are final (`DiscountRejected`). Throttling is waited out by the client's
transport (`ShopifyClient.execute`); network errors, timeouts and 5xx that survive its
retries are `PlatformTemporaryError`. Error codes:
https://shopify.dev/docs/api/admin-graphql/unstable/enums/DiscountErrorCode
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from integrations.base import (
    CreatedDiscount,
    DiscountCodeTaken,
    DiscountRejected,
    DiscountSpec,
    PlatformError,
)
from integrations.money import minor_to_decimal

if TYPE_CHECKING:
    from integrations.shopify.client import ShopifyClient

CONTEXT_SINCE_VERSION = "2025-10"
CODE_TAKEN_MESSAGE = "Code must be unique"

_NODE_FIELDS = "codeDiscountNode { id } userErrors { field message code }"
BASIC_CREATE = (
    "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {"
    f" discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {{ {_NODE_FIELDS} }} }}"
)
FREE_SHIPPING_CREATE = (
    "mutation discountCodeFreeShippingCreate($freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {"
    f" discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {{ {_NODE_FIELDS} }} }}"
)
NODE_BY_CODE = "query codeDiscountNodeByCode($code: String!) { codeDiscountNodeByCode(code: $code) { id } }"


def create_discount(http: ShopifyClient, spec: DiscountSpec) -> CreatedDiscount:
    """Create `spec` on the shop behind `http`; see the module docstring for the errors."""
    mutation, argument, name, data = build_mutation(spec, http.api_version)
    answer = http.execute(mutation, {argument: data})
    payload = answer.get(name)
    if not isinstance(payload, dict):
        raise PlatformError(f"Shopify {http.domain} answered {name} without a payload")
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
    if errors:
        if any(_is_code_taken(e) for e in errors):
            raise DiscountCodeTaken(f"discount code {spec.code} already exists on {http.domain}",
                                    find_discount_id(http, spec.code))
        raise DiscountRejected(f"Shopify {http.domain} refused discount {spec.code}: {_describe(errors)}")
    node = payload.get("codeDiscountNode") or {}
    if not isinstance(node, dict) or not node.get("id"):
        raise PlatformError(f"Shopify {http.domain} created no discount node for {spec.code}")
    return CreatedDiscount(platform_discount_id=str(node["id"]), code=spec.code)


def find_discount_id(http: ShopifyClient, code: str) -> str | None:
    """The id of the code discount that owns `code`, or None when it cannot be read."""
    try:
        node = http.execute(NODE_BY_CODE, {"code": code}).get("codeDiscountNodeByCode")
    except PlatformError:
        return None  # the code exists either way; the id is a convenience
    return str(node["id"]) if isinstance(node, dict) and node.get("id") else None


def build_mutation(spec: DiscountSpec, api_version: str) -> tuple[str, str, str, dict[str, Any]]:
    """(query, variable name, payload field, input) for `spec` on `api_version`."""
    data: dict[str, Any] = {
        "title": spec.title,
        "code": spec.code,
        "startsAt": _iso(spec.starts_at),
        "endsAt": _iso(spec.ends_at) if spec.ends_at else None,
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "combinesWith": {
            "orderDiscounts": spec.combines_with_other_discounts,
            "productDiscounts": spec.combines_with_other_discounts,
            "shippingDiscounts": spec.combines_with_other_discounts,
        },
    }
    data.update(_customer_restriction(spec, api_version))
    if spec.min_order_minor:
        data["minimumRequirement"] = {"subtotal": {
            "greaterThanOrEqualToSubtotal": minor_to_decimal(spec.min_order_minor, spec.currency)}}

    if spec.kind == "free_shipping":
        # No other free-shipping discount to combine with a free-shipping discount.
        data["combinesWith"]["shippingDiscounts"] = False
        data["destination"] = {"all": True}
        return FREE_SHIPPING_CREATE, "freeShippingCodeDiscount", "discountCodeFreeShippingCreate", data
    data["customerGets"] = _customer_gets(spec)
    return BASIC_CREATE, "basicCodeDiscount", "discountCodeBasicCreate", data


def _customer_gets(spec: DiscountSpec) -> dict[str, Any]:
    if spec.kind in ("fixed_amount", "variable_amount"):
        if spec.value <= 0:
            raise DiscountRejected(f"a fixed amount discount needs a positive value, got {spec.value}")
        return {"value": {"discountAmount": {"amount": minor_to_decimal(spec.value, spec.currency),
                                             "appliesOnEachItem": False}},
                "items": {"all": True}}
    if spec.kind == "percentage":
        if not 0 < spec.value <= 100:
            raise DiscountRejected(f"a percentage discount must be 1–100 %, got {spec.value}")
        # GraphQL Float in JSON: the fraction is computed exactly and converted last.
        return {"value": {"percentage": float(Decimal(spec.value) / 100)}, "items": {"all": True}}
    if spec.kind == "free_product":
        if spec.value <= 0:
            raise DiscountRejected(f"a free product discount needs a product variant id, got {spec.value}")
        return {"value": {"percentage": 1.0},
                "items": {"products": {"productVariantsToAdd": [f"gid://shopify/ProductVariant/{spec.value}"]}}}
    raise DiscountRejected(f"reward kind {spec.kind!r} cannot become a Shopify discount")


def _customer_restriction(spec: DiscountSpec, api_version: str) -> dict[str, Any]:
    if not spec.customer_platform_id:
        raise DiscountRejected("a single-customer discount needs the shopper's Shopify customer id")
    gid = spec.customer_platform_id
    if not gid.startswith("gid://"):
        gid = f"gid://shopify/Customer/{gid}"
    field = "context" if api_version >= CONTEXT_SINCE_VERSION else "customerSelection"
    return {field: {"customers": {"add": [gid]}}}


def _is_code_taken(error: dict) -> bool:
    return error.get("code") == "TAKEN" or CODE_TAKEN_MESSAGE.lower() in str(error.get("message", "")).lower()


def _describe(errors: list[dict]) -> str:
    return "; ".join(
        f"{'.'.join(str(f) for f in (e.get('field') or []))}: {e.get('message')} ({e.get('code')})"
        for e in errors[:3]
    )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("discount dates must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
