"""A fake Shopify Admin GraphQL endpoint (`/admin/api/{version}/graphql.json`).

What it follows from shopify.dev:
- `X-Shopify-Access-Token` is required; a wrong one answers 401
  `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
- `orders(first, after, sortKey: UPDATED_AT, query: "updated_at:>='…'")` with cursor
  pagination (`pageInfo { hasNextPage endCursor }`); cursors are keyset positions, so an
  order updated mid-walk shows up again later instead of shifting others.
- Every answer carries `extensions.cost` (requestedQueryCost, actualQueryCost,
  throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}); a throttled request
  answers `errors[{message:"Throttled", extensions:{code:"THROTTLED"}}]` with no data.
- Nested lists are cut to the `first:` the query asks for (lineItems, refunds,
  refundLineItems), as the real API does.

Discount codes (GraphQL Admin "discountCodeBasicCreate", "discountCodeFreeShippingCreate",
"codeDiscountNodeByCode"):
- Created discounts are kept in `discounts`, keyed by code (`codes()` lists them). Codes
  are unique per shop regardless of case; a second create answers the documented
  `userErrors [{field: [<input>, "code"], message: "Code must be unique. Please try a
  different code.", code: "TAKEN"}]` with `codeDiscountNode: null`.
- API versions before 2025-10 have no `context` input field (GraphQL error
  `argumentNotAccepted`); from 2025-10 `context` replaces the deprecated `customerSelection`
  (both at once is a userError).
- A mutation costs 10 points of the bucket, so `throttle_next` applies to it too.

Token refresh (expiring offline tokens): `POST /{shop}/admin/oauth/access_token` with
`client_id`, `client_secret`, `grant_type=refresh_token`, `refresh_token` (JSON or form)
answers `{access_token, expires_in, refresh_token, refresh_token_expires_in, scope}`; the
previous access token stops working. `expire_token()` makes the current token answer 401
until such a refresh.

Switches for tests: `throttle_next`, `rate_limit_next` (HTTP 429 + Retry-After),
`fail_next` (5xx), `reject_next` (discount userErrors), `slow_next` (answer after a delay,
by default after creating the discount: the client times out although the code exists),
`expire_token`, and `latency_seconds` added to every answer (benchmarks). `requests`
records what the client asked.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fakes import FakeServer, JSONHandler

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
CODE_TAKEN_MESSAGE = "Code must be unique. Please try a different code."
MUTATION_COST = 10
_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/api/(?P<version>[^/]+)/graphql\.json$")
_TOKEN_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/oauth/access_token$")
# The mutation name -> its input argument and how the stored discount is described.
_CREATE_MUTATIONS = {
    "discountCodeBasicCreate": ("basicCodeDiscount", "DiscountCodeBasic"),
    "discountCodeFreeShippingCreate": ("freeShippingCodeDiscount", "DiscountCodeFreeShipping"),
}


class FakeShopifyAdmin:
    def __init__(self, *, shop: str, access_token: str, api_version: str,
                 maximum_available: float = 2000.0, restore_rate: float = 100.0,
                 cost_per_order: int = 18, client_id: str = "dev-shopify-api-key",
                 client_secret: str = "dev-shopify-api-secret", refresh_token: str | None = None,
                 latency_seconds: float = 0.0) -> None:
        self.shop = shop
        self.access_token = access_token
        self.api_version = api_version
        # OAuth app credentials and the current refresh token, for the token endpoint.
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_valid = True
        self.refreshes: list[dict] = []
        self._refreshed_token_works = True
        self.latency_seconds = latency_seconds
        self.discounts: dict[str, dict] = {}
        self._ids = itertools.count(1057371000)
        self._lock = threading.Lock()
        self._rejections: list[list[dict]] = []
        self._slow: list[tuple[float, bool]] = []
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.cost_per_order = cost_per_order
        self.orders: dict[str, dict] = {}
        self.requests: list[dict] = []
        self._throttle: list[float] = []
        self._rate_limit: list[str] = []
        self._failures: list[int] = []
        self.server = FakeServer(self, _Handler)

    # -- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> FakeShopifyAdmin:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    @property
    def origin_template(self) -> str:
        """A value for SHOPIFY_SHOP_ORIGIN that reaches this fake."""
        return self.server.base_url + "/{shop}"

    def put_order(self, node: dict) -> None:
        self.orders[node["id"]] = node

    def throttle_next(self, times: int = 1, currently_available: float = 10.0) -> None:
        self._throttle.extend([currently_available] * times)

    def rate_limit_next(self, times: int = 1, retry_after: str = "2.0") -> None:
        self._rate_limit.extend([retry_after] * times)

    def fail_next(self, times: int = 1, status: int = 503) -> None:
        self._failures.extend([status] * times)

    def reject_next(self, times: int = 1, user_errors: list[dict] | None = None) -> None:
        """The next discount creates answer these `userErrors` and create nothing."""
        errors = user_errors or [{
            "field": ["basicCodeDiscount", "customerGets", "value", "discountAmount", "amount"],
            "message": "Value must be greater than 0", "code": "GREATER_THAN",
        }]
        self._rejections.extend([errors] * times)

    def slow_next(self, times: int = 1, seconds: float = 2.0, create: bool = True) -> None:
        """The next GraphQL answers wait `seconds` first. With `create`, a discount mutation
        is carried out before the wait: a client that gives up earlier never hears that the
        code now exists (what a real timeout looks like)."""
        self._slow.extend([(seconds, create)] * times)

    def expire_token(self, refreshed_token_works: bool = True) -> None:
        """The current access token answers 401 until a refresh; with
        `refreshed_token_works=False` the refreshed token is refused too (a revoked app)."""
        self.token_valid = False
        self._refreshed_token_works = refreshed_token_works

    def codes(self) -> list[str]:
        return sorted(self.discounts)

    def discount_input(self, code: str) -> dict:
        """The input the client sent for the discount with this code."""
        return self._find(code)["input"]

    def _find(self, code: str) -> dict | None:
        return next((d for c, d in self.discounts.items() if c.upper() == str(code).upper()), None)

    def accepts(self, token: str | None) -> bool:
        return self.token_valid and token == self.access_token

    # -- OAuth token endpoint (expiring offline tokens) ----------------------------------------
    def refresh(self, form: dict[str, str]) -> tuple[int, dict]:
        self.refreshes.append({k: v for k, v in form.items() if k not in ("client_secret", "refresh_token")})
        if form.get("client_id") != self.client_id or not hmac.compare_digest(
                form.get("client_secret", ""), self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "The grant type is not supported."}
        if not self.refresh_token or not hmac.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
        with self._lock:
            self.access_token = "shpat_" + secrets.token_hex(16)
            self.refresh_token = "shprt_" + secrets.token_hex(16)
            self.token_valid = self._refreshed_token_works
        return 200, {"access_token": self.access_token, "expires_in": 3600, "refresh_token": self.refresh_token,
                     "refresh_token_expires_in": 7776000, "scope": "read_orders,write_discounts"}

    # -- GraphQL -----------------------------------------------------------------------------
    def answer(self, query: str, variables: dict) -> tuple[int, dict, dict]:
        for mutation, (argument, typename) in _CREATE_MUTATIONS.items():
            if re.search(rf"\b{mutation}\s*\(", query):
                return self._create_discount(mutation, argument, typename, variables.get(argument))
        if "codeDiscountNodeByCode(" in query:
            throttled = self._throttled(1)
            if throttled:
                return 200, throttled, {}
            found = self._find(variables.get("code"))
            node = {"id": found["id"], "codeDiscount": {"__typename": found["typename"], "title": found["title"]}} \
                if found else None
            return 200, {"data": {"codeDiscountNodeByCode": node},
                         "extensions": self._cost(1, self.maximum_available - 1)}, {}
        limits = {name: int(n) for name, n in re.findall(r"(lineItems|refunds|refundLineItems)\(first: (\d+)", query)}
        if "orders(" in query:
            first = int(variables.get("first") or 0)
            cost = 2 + first * self.cost_per_order
            if cost > 1000:
                return 200, {"errors": [{
                    "message": f"Query cost is {cost}, which exceeds the single query max cost limit (1000).",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": 1000},
                }]}, {}
            throttled = self._throttled(cost)
            if throttled:
                return 200, throttled, {}
            return 200, {"data": {"orders": self._orders_page(variables, first, limits)},
                         "extensions": self._cost(cost, self.maximum_available - cost)}, {}
        if "order(id:" in query:
            node = self.orders.get(variables.get("id"))
            cost = 2 + self.cost_per_order * 5
            throttled = self._throttled(cost)
            if throttled:
                return 200, throttled, {}
            shaped = self._shape(node, limits, variables.get("linesCursor")) if node else None
            return 200, {"data": {"order": shaped}, "extensions": self._cost(cost, self.maximum_available - cost)}, {}
        return 200, {"errors": [{"message": "Field doesn't exist on type 'QueryRoot'",
                                 "extensions": {"code": "undefinedField"}}]}, {}

    def _create_discount(self, mutation: str, argument: str, typename: str, data: Any) -> tuple[int, dict, dict]:
        throttled = self._throttled(MUTATION_COST)
        if throttled:
            return 200, throttled, {}
        if not isinstance(data, dict):
            return 200, {"errors": [{"message": f"Variable ${argument} of type {typename}Input! was provided "
                                                "invalid value", "extensions": {"code": "INVALID_VARIABLE"}}]}, {}
        if "context" in data and self.api_version < "2025-10":
            return 200, {"errors": [{"message": f"InputObject '{typename}Input' doesn't accept argument 'context'",
                                     "extensions": {"code": "argumentNotAccepted", "name": typename + "Input",
                                                    "argumentName": "context"}}]}, {}

        def payload(node: dict | None, errors: list[dict]) -> tuple[int, dict, dict]:
            return 200, {"data": {mutation: {"codeDiscountNode": node, "userErrors": errors}},
                         "extensions": self._cost(MUTATION_COST, self.maximum_available - MUTATION_COST)}, {}

        if self._rejections:
            return payload(None, self._rejections.pop(0))
        errors = _validate(argument, data)
        if errors:
            return payload(None, errors)
        with self._lock:
            if self._find(data["code"]) is not None:
                return payload(None, [{"field": [argument, "code"], "message": CODE_TAKEN_MESSAGE, "code": "TAKEN"}])
            node_id = f"gid://shopify/DiscountCodeNode/{next(self._ids)}"
            self.discounts[data["code"]] = {"id": node_id, "typename": typename, "mutation": mutation,
                                            "title": data.get("title"), "input": json.loads(json.dumps(data))}
        return payload({"id": node_id, "codeDiscount": {
            "__typename": typename, "title": data.get("title"),
            "codes": {"nodes": [{"code": data["code"]}]},
            "startsAt": data.get("startsAt"), "endsAt": data.get("endsAt"),
            "usageLimit": data.get("usageLimit"), "appliesOncePerCustomer": data.get("appliesOncePerCustomer"),
        }}, [])

    def _throttled(self, cost: int) -> dict | None:
        if not self._throttle:
            return None
        available = self._throttle.pop(0)
        body = {"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}
        body["extensions"] = self._cost(cost, available, actual=None)
        return body

    def _cost(self, requested: int, available: float, actual: int | None | str = "same") -> dict:
        return {"cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested if actual == "same" else actual,
            "throttleStatus": {"maximumAvailable": self.maximum_available,
                               "currentlyAvailable": available, "restoreRate": self.restore_rate},
        }}

    def _orders_page(self, variables: dict, first: int, limits: dict) -> dict:
        match = re.search(r"updated_at:(>=?)'([^']+)'", variables.get("query") or "")
        matching = sorted(self.orders.values(), key=_key)
        if match:
            since = _time(match.group(2))
            inclusive = match.group(1) == ">="
            matching = [n for n in matching if _time(n["updatedAt"]) > since
                        or (inclusive and _time(n["updatedAt"]) == since)]
        cursor = variables.get("cursor")
        if cursor:
            after = json.loads(base64.b64decode(cursor))
            after_key = (_time(after[0]), after[1])
            matching = [n for n in matching if _key(n) > after_key]
        page = matching[:first]
        end_cursor = (base64.b64encode(json.dumps([page[-1]["updatedAt"], page[-1]["id"]]).encode()).decode()
                      if page else None)
        return {"pageInfo": {"hasNextPage": len(matching) > len(page), "endCursor": end_cursor},
                "nodes": [self._shape(n, limits, None) for n in page]}

    @staticmethod
    def _shape(node: dict, limits: dict, lines_cursor: str | None) -> dict:
        shaped = json.loads(json.dumps(node))
        lines = node["lineItems"]["nodes"]
        start = int(lines_cursor) if lines_cursor else 0
        end = start + limits.get("lineItems", len(lines))
        shaped["lineItems"] = {"pageInfo": {"hasNextPage": end < len(lines), "endCursor": str(end)},
                               "nodes": lines[start:end]}
        refunds = shaped.get("refunds") or []
        shaped["refunds"] = refunds[: limits.get("refunds", len(refunds))]
        for refund in shaped["refunds"]:
            items = refund["refundLineItems"]["nodes"]
            cut = limits.get("refundLineItems", len(items))
            refund["refundLineItems"] = {"pageInfo": {"hasNextPage": len(items) > cut}, "nodes": items[:cut]}
        return shaped


def _validate(argument: str, data: dict) -> list[dict]:
    """The checks Shopify makes on a code discount input that a client can get wrong."""
    errors: list[dict] = []

    def error(field: list[str], message: str, code: str) -> None:
        errors.append({"field": [argument, *field], "message": message, "code": code})

    for name in ("code", "title", "startsAt"):
        if not data.get(name):
            error([name], f"{name[0].upper() + name[1:]} can't be blank", "BLANK")
    if "context" in data and "customerSelection" in data:
        error(["context"], "Only one of context or customerSelection can be provided.", "CONFLICT")
    if data.get("endsAt") and data.get("startsAt") and _time(data["endsAt"]) <= _time(data["startsAt"]):
        error(["endsAt"], "Ends at needs to be after starts_at", "END_DATE_BEFORE_START_DATE")
    value = ((data.get("customerGets") or {}).get("value") or {}) if argument == "basicCodeDiscount" else {}
    if argument == "basicCodeDiscount":
        if "percentage" in value and not 0 <= float(value["percentage"]) <= 1:
            error(["customerGets", "value", "percentage"], "Value must be between 0.0 and 1.0",
                  "VALUE_OUTSIDE_RANGE")
        amount = (value.get("discountAmount") or {}).get("amount")
        if "discountAmount" in value and not Decimal(str(amount or "0")) > 0:
            error(["customerGets", "value", "discountAmount", "amount"], "Value must be greater than 0",
                  "GREATER_THAN")
        if not value:
            error(["customerGets", "value"], "Value can't be blank", "BLANK")
    return errors


class _Handler(JSONHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        fake: FakeShopifyAdmin = self.server.fake  # type: ignore[attr-defined]
        body = self.read_body()
        if fake.latency_seconds:
            time.sleep(fake.latency_seconds)
        token_match = _TOKEN_PATH.match(self.path)
        if token_match and token_match.group("shop") == fake.shop:
            self._refresh(fake, body)
            return
        match = _PATH.match(self.path)
        if not match or match.group("shop") != fake.shop or match.group("version") != fake.api_version:
            self.send_json(404, {"errors": "Not Found"})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        record = {"path": self.path, "variables": payload.get("variables") or {}, "query": payload.get("query", "")}
        fake.requests.append(record)
        if not fake.accepts(self.headers.get("X-Shopify-Access-Token")):
            record["status"] = 401
            self.send_json(401, {"errors": INVALID_TOKEN})
            return
        if fake._failures:
            record["status"] = fake._failures.pop(0)
            self.send_json(record["status"], {"errors": "Internal Server Error"})
            return
        if fake._rate_limit:
            record["status"] = 429
            self.send_json(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                                           "to resume uninterrupted service."},
                           {"Retry-After": fake._rate_limit.pop(0)})
            return
        slow = fake._slow.pop(0) if fake._slow else None
        if slow and not slow[1]:
            time.sleep(slow[0])
        status, answer, headers = fake.answer(payload.get("query") or "", payload.get("variables") or {})
        if slow and slow[1]:
            time.sleep(slow[0])
        record["status"] = status
        record["errors"] = answer.get("errors")
        record["data"] = answer.get("data")
        try:
            self.send_json(status, answer, headers)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def _refresh(self, fake: FakeShopifyAdmin, body: bytes) -> None:
        content_type = self.headers.get("Content-Type") or ""
        try:
            form = json.loads(body) if "json" in content_type else dict(parse_qsl(body.decode()))
        except ValueError:
            form = {}
        status, answer = fake.refresh({str(k): str(v) for k, v in (form or {}).items()})
        self.send_json(status, answer)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _key(node: dict) -> tuple[datetime, str]:
    return (_time(node["updatedAt"]), node["id"])


# -- building Order nodes as the Admin API returns them --------------------------------------

def money(amount: Decimal | str, currency: str = "USD") -> dict:
    return {"shopMoney": {"amount": str(Decimal(amount)), "currencyCode": currency}}


def line(price: str, quantity: int = 1, discount: str = "0.00", gift_card: bool = False,
         currency: str = "USD") -> dict:
    allocations = [{"allocatedAmountSet": money(discount, currency)}] if Decimal(discount) else []
    return {"isGiftCard": gift_card, "quantity": quantity, "originalUnitPriceSet": money(price, currency),
            "discountAllocations": allocations}


def refund(refund_id: int, created_at: str, lines: list[tuple[str, str]], currency: str = "USD") -> dict:
    """`lines`: (subtotal, tax) of each refunded line."""
    return {
        "id": f"gid://shopify/Refund/{refund_id}", "createdAt": created_at,
        "refundLineItems": {"nodes": [
            {"lineItem": {"isGiftCard": False}, "subtotalSet": money(sub, currency), "totalTaxSet": money(tax, currency)}
            for sub, tax in lines
        ]},
        "refundShippingLines": {"nodes": []},
    }


def order_node(order_id: int, updated_at: str, *, lines: list[dict], customer_id: int | None = 7001,
               email: str = "ada@example.test", financial_status: str = "PAID", cancelled_at: str | None = None,
               shipping: str = "0.00", tax: str = "0.00", refunds: list[dict] | None = None,
               created_at: str | None = None, currency: str = "USD", test: bool = False) -> dict:
    """An `Order` node with totals that add up: subtotal = lines after discounts."""
    subtotal = sum(
        (Decimal(item["originalUnitPriceSet"]["shopMoney"]["amount"]) * item["quantity"]
         - sum((Decimal(a["allocatedAmountSet"]["shopMoney"]["amount"]) for a in item["discountAllocations"]),
               Decimal(0))
         for item in lines),
        Decimal(0),
    )
    return {
        "id": f"gid://shopify/Order/{order_id}", "name": f"#{order_id}",
        "createdAt": created_at or updated_at, "processedAt": created_at or updated_at,
        "updatedAt": updated_at, "test": test, "cancelledAt": cancelled_at,
        "displayFinancialStatus": financial_status, "displayFulfillmentStatus": "UNFULFILLED",
        "currencyCode": currency, "discountCodes": [],
        "customer": None if customer_id is None else {
            "id": f"gid://shopify/Customer/{customer_id}", "email": email, "firstName": "Ada",
            "lastName": "Lovelace", "locale": "en", "emailMarketingConsent": {"marketingState": "NOT_SUBSCRIBED"},
        },
        "subtotalPriceSet": money(subtotal, currency),
        "totalShippingPriceSet": money(shipping, currency),
        "totalTaxSet": money(tax, currency),
        "totalPriceSet": money(subtotal + Decimal(shipping) + Decimal(tax), currency),
        "lineItems": {"nodes": lines},
        "refunds": refunds or [],
    }
