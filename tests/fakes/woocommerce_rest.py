"""A fake WooCommerce store's REST API (`/wp-json/wc/v3/orders`), serving the real order
JSON captured in `fixtures/woocommerce/` (the store's state at the end of the capture).

What it follows from the WooCommerce REST API docs and `WC_REST_Authentication`:
- Over plain HTTP, requests are signed with OAuth 1.0a one-legged: `oauth_consumer_key`,
  `oauth_timestamp` (±15 minutes), `oauth_nonce` (never twice), `oauth_signature_method`
  HMAC-SHA1 or HMAC-SHA256, and `oauth_signature` = base64 HMAC over the RFC 5849 base
  string (`METHOD&enc(url)&enc(sorted, encoded params)`) keyed with `consumer_secret + "&"`.
  Failures answer WordPress REST errors: `{"code":"woocommerce_rest_authentication_error",
  "message":…, "data":{"status":401}}`. HTTP basic auth is accepted too (the HTTPS path).
- Listing: `status` defaults to any-but-trash, `modified_after` is exclusive and read as
  GMT with `dates_are_gmt=true`, `orderby` (date|id|modified…) and `order`, `per_page`
  1..100 (else 400 `rest_invalid_param`), `page` (past the end: 400
  `rest_post_invalid_page_number`), headers `X-WP-Total`, `X-WP-TotalPages` and `Link`.
- HTTP basic auth: WooCommerce reads it only on HTTPS requests (`is_ssl()`); this fake
  speaks plain HTTP, so it accepts basic auth only when built with `acts_as_https=True`
  (the client itself sends basic auth only to https:// stores). Otherwise a basic-auth
  request is unauthenticated (401).

Coupons (`/wp-json/wc/v3/coupons`, shapes from `coupon-create-fixed-cart.json`,
`error-duplicate-coupon.json`, `coupon-list-by-code.json`):
- `POST` creates a coupon (201 + `Location`) and keeps it in `coupons` by id (`codes()`
  lists the codes). Codes are stored lowercase, as the core `woocommerce_coupon_code`
  filter (`wc_strtolower`) does, so a code differing only in case is a duplicate: 400
  `woocommerce_rest_coupon_code_already_exists`.
- `GET ?code=` lists the coupons with that code (case-insensitive), with `X-WP-Total`.

Switches: `fail_next` (5xx), `reject_next` (a WordPress error on the next coupon create),
`slow_next` (answer after a delay; by default after creating the coupon, as a real
timeout looks to the client), `latency_seconds` (benchmarks).
"""

from __future__ import annotations

import base64
import copy
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fakes import FakeServer, JSONHandler

ORDERS_PATH = "/wp-json/wc/v3/orders"
COUPONS_PATH = "/wp-json/wc/v3/coupons"
_ORDER_REST_PATH = re.compile(r"^/wp-json/wc/v3/orders(?:/(\d+))?$")


def store_orders_from_fixtures(folder: Path) -> dict[int, dict]:
    """Replay `actions.json`: the latest body the store returned for each order, minus
    orders deleted for good."""
    orders: dict[int, dict] = {}
    for action in json.loads((folder / "actions.json").read_text()):
        path, status, file = action["path"], action["status"], action.get("file")
        if not file or not 200 <= status < 300:
            continue
        body = json.loads((folder / file).read_text())["body"]
        if path == "/wp-json/wc/v3/orders/batch":
            for order in body.get("update", []):
                orders[order["id"]] = order
            continue
        match = _ORDER_REST_PATH.match(path)
        if not match or not isinstance(body, dict) or "id" not in body:
            continue
        if action["method"] == "DELETE":
            recorded = json.loads((folder / file).read_text())["request"].get("query") or {}
            if str(recorded.get("force")).lower() in ("true", "1"):
                orders.pop(body["id"], None)  # deleted for good
            else:
                orders[body["id"]] = {**body, "status": "trash"}  # the response shows it before trashing
        else:
            orders[body["id"]] = body
    return orders


def wp_error(code: str, message: str, status: int, **data: Any) -> dict:
    return {"code": code, "message": message, "data": {"status": status, **data}}


def _enc(value: str) -> str:
    """PHP rawurlencode (RFC 3986 unreserved characters stay)."""
    return quote(value, safe="-._~")


def oauth_signature(method: str, url: str, params: dict[str, str], consumer_secret: str, algorithm: str) -> str:
    """The signature WooCommerce computes for a request (RFC 5849 §3.4)."""
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    normalized = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs)
    base_string = f"{method.upper()}&{_enc(url)}&{_enc(normalized)}"
    digest = hmac.new((consumer_secret + "&").encode(), base_string.encode(), algorithm).digest()
    return base64.b64encode(digest).decode()


def _recorded(name: str) -> dict:
    """One captured REST exchange from the shared fixtures."""
    from fixture_files import FIXTURES

    return json.loads((FIXTURES / "woocommerce" / name).read_text())


_COUPON_FIELDS = (  # what POST /coupons copies from the request onto the coupon, with defaults
    ("discount_type", "fixed_cart"), ("description", ""), ("date_expires", None), ("date_expires_gmt", None),
    ("individual_use", False), ("product_ids", []), ("excluded_product_ids", []), ("usage_limit", None),
    ("usage_limit_per_user", None), ("limit_usage_to_x_items", None), ("free_shipping", False),
    ("product_categories", []), ("excluded_product_categories", []), ("exclude_sale_items", False),
    ("email_restrictions", []),
)


class FakeWooCommerceStore:
    def __init__(self, *, consumer_key: str, consumer_secret: str, orders: dict[int, dict] | None = None,
                 acts_as_https: bool = False, latency_seconds: float = 0.0) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.orders = orders if orders is not None else {}
        self.acts_as_https = acts_as_https
        self.latency_seconds = latency_seconds
        self.coupons: dict[int, dict] = {}
        self.requests: list[dict] = []
        self.nonces: set[str] = set()
        self._failures: list[tuple[int, dict]] = []
        self._rejections: list[tuple[int, dict]] = []
        self._slow: list[tuple[float, bool]] = []
        self._lock = threading.Lock()
        self._coupon_ids = itertools.count(100)
        self._coupon_template = _recorded("coupon-create-fixed-cart.json")["body"]
        self._duplicate_error = _recorded("error-duplicate-coupon.json")["body"]
        # Called with the page number before a list page is answered (to change the store mid-walk).
        self.before_page: Callable[[int], None] | None = None
        self.server = FakeServer(self, _Handler)

    def __enter__(self) -> FakeWooCommerceStore:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url

    def fail_next(self, times: int = 1, status: int = 503) -> None:
        body = wp_error("internal_server_error", "There has been a critical error on this website.", status)
        self._failures.extend([(status, body)] * times)

    def reject_next(self, times: int = 1, code: str = "rest_invalid_param",
                    message: str = "Invalid parameter(s): amount", status: int = 400) -> None:
        """The next coupon creates answer this WordPress error and create nothing."""
        self._rejections.extend([(status, wp_error(code, message, status))] * times)

    def slow_next(self, times: int = 1, seconds: float = 2.0, create: bool = True) -> None:
        """The next requests are answered after `seconds`; with `create` a coupon create is
        carried out first (the client gives up, the coupon exists)."""
        self._slow.extend([(seconds, create)] * times)

    def codes(self) -> list[str]:
        return sorted(c["code"] for c in self.coupons.values())

    def coupon(self, code: str) -> dict | None:
        return next((c for c in self.coupons.values() if c["code"] == code.lower()), None)

    # -- coupons ---------------------------------------------------------------------------------
    def create_coupon(self, data: Any) -> tuple[int, Any, dict[str, str]]:
        if self._rejections:
            status, body = self._rejections.pop(0)
            return status, body, {}
        if not isinstance(data, dict) or not str(data.get("code") or "").strip():
            return 400, wp_error("woocommerce_rest_empty_coupon_code", "The coupon code cannot be empty.", 400), {}
        if data.get("discount_type", "fixed_cart") not in ("percent", "fixed_cart", "fixed_product"):
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): discount_type", 400,
                                 params={"discount_type": "discount_type is not one of percent, fixed_cart, "
                                                          "and fixed_product."}), {}
        code = str(data["code"]).strip().lower()
        with self._lock:
            if any(c["code"] == code for c in self.coupons.values()):
                return 400, copy.deepcopy(self._duplicate_error), {}
            coupon_id = next(self._coupon_ids)
            coupon = copy.deepcopy(self._coupon_template)
            coupon.update({"id": coupon_id, "code": code, "amount": _decimal2(data.get("amount", "0")),
                           "usage_count": 0, "used_by": []})
            for field, default in _COUPON_FIELDS:
                coupon[field] = copy.deepcopy(data.get(field, default))
            if data.get("date_expires_gmt") and not data.get("date_expires"):
                coupon["date_expires"] = data["date_expires_gmt"]  # the store's timezone is UTC
            if data.get("date_expires") and not data.get("date_expires_gmt"):
                coupon["date_expires_gmt"] = data["date_expires"]
            coupon["minimum_amount"] = _decimal2(data.get("minimum_amount", "0"))
            coupon["maximum_amount"] = _decimal2(data.get("maximum_amount", "0"))
            coupon["meta_data"] = [{"id": 1000 + coupon_id * 10 + n, "key": m.get("key"), "value": m.get("value")}
                                   for n, m in enumerate(data.get("meta_data") or [])]
            self.coupons[coupon_id] = coupon
        location = f"{self.url}{COUPONS_PATH}/{coupon_id}"
        coupon["_links"] = {"self": [{"href": location}], "collection": [{"href": self.url + COUPONS_PATH}]}
        return 201, coupon, {"Location": location}

    def list_coupons(self, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        code = params.get("code")
        found = [c for c in self.coupons.values() if code is None or c["code"] == code.strip().lower()]
        return 200, found, {"X-WP-Total": str(len(found)), "X-WP-TotalPages": "1" if found else "0"}

    # -- authentication ------------------------------------------------------------------------
    def authenticate(self, method: str, url: str, params: dict[str, str], authorization: str | None) -> dict | None:
        """None when the request is authenticated, else the WordPress error to answer."""
        if authorization and authorization.startswith("Basic ") and self.acts_as_https:
            key, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            if key != self.consumer_key:
                return wp_error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
            if not hmac.compare_digest(secret, self.consumer_secret):
                return wp_error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
            return None
        if "oauth_consumer_key" not in params:
            return wp_error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
        missing = [p for p in ("oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
                   if not params.get(p)]
        if missing:
            return wp_error("woocommerce_rest_authentication_error",
                            f"Missing OAuth parameter {missing[0]}", 401)
        if params["oauth_consumer_key"] != self.consumer_key:
            return wp_error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
        algorithm = {"HMAC-SHA1": "sha1", "HMAC-SHA256": "sha256"}.get(params["oauth_signature_method"])
        if algorithm is None:
            return wp_error("woocommerce_rest_authentication_error",
                            "Invalid signature - signature method is invalid.", 401)
        expected = oauth_signature(method, url, params, self.consumer_secret, algorithm)
        provided = params["oauth_signature"].replace(" ", "+")
        if not hmac.compare_digest(expected, provided):
            return wp_error("woocommerce_rest_authentication_error",
                            "Invalid signature - provided signature does not match.", 401)
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError:
            timestamp = 0
        if abs(time.time() - timestamp) > 15 * 60:
            return wp_error("woocommerce_rest_authentication_error", "Invalid timestamp.", 401)
        nonce = f"{timestamp}:{params['oauth_nonce']}"
        if nonce in self.nonces:
            return wp_error("woocommerce_rest_authentication_error",
                            "Invalid nonce - nonce has already been used.", 401)
        self.nonces.add(nonce)
        return None

    # -- listing -------------------------------------------------------------------------------
    def list_orders(self, url: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = int(params.get("per_page", "10"))
            page = int(params.get("page", "1"))
        except ValueError:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): per_page", 400), {}
        if not 1 <= per_page <= 100:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): per_page", 400, params={
                "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}), {}
        orderby = params.get("orderby", "date")
        fields = {"date": "date_created_gmt", "modified": "date_modified_gmt", "id": "id"}
        if orderby not in fields:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): orderby", 400), {}
        gmt = params.get("dates_are_gmt") in ("true", "1")
        orders = [o for o in self.orders.values() if o.get("status") != "trash"]
        if params.get("modified_after"):
            since = params["modified_after"][:19]
            field = "date_modified_gmt" if gmt else "date_modified"
            orders = [o for o in orders if (o.get(field) or "") > since]
        orders.sort(key=lambda o: (o.get(fields[orderby]) or "", o["id"]),
                    reverse=params.get("order", "desc") == "desc")
        total = len(orders)
        total_pages = (total + per_page - 1) // per_page
        if page > max(total_pages, 1):
            return 400, wp_error("rest_post_invalid_page_number",
                                 "The page number requested is larger than the number of pages available.", 400), {}
        body = orders[(page - 1) * per_page: page * per_page]
        public = {k: v for k, v in params.items() if not k.startswith("oauth_")}
        links = []
        if page > 1:
            links.append(f'<{url}?{urlencode({**public, "page": page - 1})}>; rel="prev"')
        if page < total_pages:
            links.append(f'<{url}?{urlencode({**public, "page": page + 1})}>; rel="next"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return 200, body, headers


def _decimal2(value: Any) -> str:
    """WooCommerce prints coupon amounts with the store's 2 decimals ("5" -> "5.00")."""
    try:
        return str(Decimal(str(value or "0")).quantize(Decimal("0.01")))
    except InvalidOperation:
        return "0.00"


class _Handler(JSONHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        fake: FakeWooCommerceStore = self.server.fake  # type: ignore[attr-defined]
        raw = self.read_body()
        if fake.latency_seconds:
            time.sleep(fake.latency_seconds)
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        url = f"http://{self.headers.get('Host')}{split.path}"
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        record: dict[str, Any] = {"method": "POST", "path": split.path, "params": params, "json": data,
                                  "authorization": (self.headers.get("Authorization") or "").split(" ")[0] or None}
        fake.requests.append(record)
        if split.path != COUPONS_PATH:
            record["status"] = 404
            self.send_json(404, wp_error("rest_no_route", "No route was found matching the URL and request method.", 404))
            return
        error = fake.authenticate("POST", url, params, self.headers.get("Authorization"))
        if error:
            if error["code"] == "woocommerce_rest_cannot_view":
                error = wp_error("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.", 401)
            record["status"] = error["data"]["status"]
            self.send_json(record["status"], error)
            return
        if fake._failures:
            status, body = fake._failures.pop(0)
            record["status"] = status
            self.send_json(status, body)
            return
        slow = fake._slow.pop(0) if fake._slow else None
        if slow and not slow[1]:
            time.sleep(slow[0])
        status, body, headers = fake.create_coupon(data)
        if slow and slow[1]:
            time.sleep(slow[0])
        record["status"] = status
        try:
            self.send_json(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        fake: FakeWooCommerceStore = self.server.fake  # type: ignore[attr-defined]
        if fake.latency_seconds:
            time.sleep(fake.latency_seconds)
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))  # PHP: the last value wins
        url = f"http://{self.headers.get('Host')}{split.path}"
        record: dict[str, Any] = {"method": "GET", "path": split.path, "params": params}
        fake.requests.append(record)
        if split.path == COUPONS_PATH:
            self._list_coupons(fake, url, params, record)
            return
        if split.path != ORDERS_PATH:
            record["status"] = 404
            self.send_json(404, wp_error("rest_no_route", "No route was found matching the URL and request method.", 404))
            return
        error = fake.authenticate("GET", url, params, self.headers.get("Authorization"))
        if error:
            record["status"] = error["data"]["status"]
            self.send_json(record["status"], error)
            return
        if fake._failures:
            status, body = fake._failures.pop(0)
            record["status"] = status
            self.send_json(status, body)
            return
        if fake.before_page is not None:
            fake.before_page(int(params.get("page", "1")))
        status, body, headers = fake.list_orders(url, params)
        record["status"] = status
        self.send_json(status, body, headers)

    def _list_coupons(self, fake: FakeWooCommerceStore, url: str, params: dict[str, str], record: dict) -> None:
        error = fake.authenticate("GET", url, params, self.headers.get("Authorization"))
        if error:
            record["status"] = error["data"]["status"]
            self.send_json(record["status"], error)
            return
        if fake._failures:
            status, body = fake._failures.pop(0)
            record["status"] = status
            self.send_json(status, body)
            return
        status, body, headers = fake.list_coupons({k: v for k, v in params.items() if not k.startswith("oauth_")})
        record["status"] = status
        self.send_json(status, body, headers)
