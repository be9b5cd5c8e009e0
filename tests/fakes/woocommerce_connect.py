"""A fake WooCommerce store for connecting the app: the application authentication
endpoint (`/wc-auth/v1/authorize`), the REST webhooks (`/wp-json/wc/v3/webhooks`) and the
current currency (`/wp-json/wc/v3/data/currencies/current`), on top of
`FakeWooCommerceStore` (OAuth 1.0a over plain HTTP, orders and coupons).

What it follows from the WooCommerce docs and `WC_Auth` / `WC_REST_Webhooks_Controller`:
- `/wc-auth/v1/authorize` needs `app_name`, `scope` (`read`, `write` or `read_write`),
  `user_id`, `return_url` and `callback_url`, and refuses a callback URL that is not
  https. `approve()` plays the store manager clicking "Approve": a key with the scope's
  permissions is created and WooCommerce POSTs `{"key_id", "user_id", "consumer_key",
  "consumer_secret", "key_permissions"}` to the callback URL; only an HTTP 200 keeps the
  key (`keep_key()` records what the store would do with the answer).
- Webhooks: `POST /webhooks` creates one (201, body shaped like
  `webhook-create-order-created.json`: no `secret` in answers); topics are
  `<resource>.<event>` with resource coupon|customer|order|product and event
  created|updated|deleted|restored, else 400 `woocommerce_rest_webhook_invalid_topic`;
  `GET /webhooks` lists (`per_page`, `page`, `X-WP-Total`, `X-WP-TotalPages`);
  `GET|PUT|POST /webhooks/<id>` reads or updates (`status`: active|paused|disabled,
  `secret`, `delivery_url`, `name`), `date_modified_gmt` moving on every change.
- `disable(id)` is what WooCommerce does after more than 5 consecutive failed deliveries.
- `fail_next` (from the parent) applies to these routes too.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes import FakeServer
from fakes.woocommerce_rest import FakeWooCommerceStore, _Handler, wp_error

WEBHOOKS_PATH = "/wp-json/wc/v3/webhooks"
CURRENCY_PATH = "/wp-json/wc/v3/data/currencies/current"
_WEBHOOK_PATH = re.compile(r"^/wp-json/wc/v3/webhooks/(\d+)$")
_TOPIC = re.compile(r"^(coupon|customer|order|product)\.(created|updated|deleted|restored)$")
STATUSES = ("active", "paused", "disabled")
PERMISSIONS = {"read": "read", "write": "write", "read_write": "read_write"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class FakeWooCommerceConnect(FakeWooCommerceStore):
    def __init__(self, *, currency: str = "EUR") -> None:
        super().__init__(consumer_key="ck_unset", consumer_secret="cs_unset")
        self.server.httpd.server_close()  # the parent's server, never started: serve webhooks too
        self.server = FakeServer(self, _ConnectHandler)
        self.currency = currency
        self.webhooks: dict[int, dict] = {}
        self.webhook_secrets: dict[int, str] = {}
        self.keys: list[dict] = []
        self._key_ids = itertools.count(1)
        self._webhook_ids = itertools.count(1)

    # -- the application authentication endpoint ---------------------------------------------
    def approve(self, authorize_url: str, *, permissions: str | None = None) -> tuple[str, dict]:
        """The store manager approves: (callback_url, the JSON WooCommerce POSTs there)."""
        split = urlsplit(authorize_url)
        if split.path != "/wc-auth/v1/authorize":
            raise AssertionError(f"not the authorize endpoint: {split.path}")
        query = dict(parse_qsl(split.query))
        for name in ("app_name", "scope", "user_id", "return_url", "callback_url"):
            if not query.get(name):
                raise AssertionError(f"Missing parameter {name}")
        if query["scope"] not in PERMISSIONS:
            raise AssertionError("Invalid scope " + query["scope"])
        if not query["callback_url"].startswith("https://"):
            raise AssertionError("The callback_url needs to be over SSL")
        key_id = next(self._key_ids)
        self.consumer_key = "ck_" + secrets.token_hex(20)
        self.consumer_secret = "cs_" + secrets.token_hex(20)
        granted = permissions or PERMISSIONS[query["scope"]]
        self.keys.append({"key_id": key_id, "permissions": granted, "kept": None})
        return query["callback_url"], {"key_id": key_id, "user_id": query["user_id"],
                                       "consumer_key": self.consumer_key,
                                       "consumer_secret": self.consumer_secret, "key_permissions": granted}

    def keep_key(self, key_id: int, callback_status: int) -> bool:
        """WooCommerce keeps the key only when the callback answered exactly 200."""
        kept = callback_status == 200
        for key in self.keys:
            if key["key_id"] == key_id:
                key["kept"] = kept
        if not kept:
            self.consumer_key, self.consumer_secret = "ck_revoked", "cs_revoked"
        return kept

    # -- webhooks --------------------------------------------------------------------------------
    def disable(self, webhook_id: int, status: str = "disabled") -> None:
        hook = self.webhooks[webhook_id]
        hook["status"] = status
        hook["date_modified"] = hook["date_modified_gmt"] = _now()

    def active(self) -> dict[str, str]:
        """topic -> status of every webhook."""
        return {h["topic"]: h["status"] for h in self.webhooks.values()}

    def create_webhook(self, data: Any) -> tuple[int, Any]:
        if not isinstance(data, dict):
            return 400, wp_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        topic = str(data.get("topic") or "")
        if not _TOPIC.match(topic):
            return 400, wp_error("woocommerce_rest_webhook_invalid_topic",
                                 "Webhook topic is required and must be valid.", 400)
        url = str(data.get("delivery_url") or "")
        if not re.match(r"^https?://[^/\s]+", url):
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): delivery_url", 400)
        status = data.get("status", "active")
        if status not in STATUSES:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): status", 400)
        with self._lock:
            webhook_id = next(self._webhook_ids)
            resource, event = topic.split(".")
            self.webhooks[webhook_id] = {
                "id": webhook_id, "name": data.get("name") or f"Webhook {webhook_id}", "status": status,
                "topic": topic, "resource": resource, "event": event, "hooks": [],
                "delivery_url": url, "date_created": _now(), "date_created_gmt": _now(),
                "date_modified": None, "date_modified_gmt": None,
            }
            self.webhook_secrets[webhook_id] = str(data.get("secret") or "")
        return 201, dict(self.webhooks[webhook_id])

    def update_webhook(self, webhook_id: int, data: Any) -> tuple[int, Any]:
        hook = self.webhooks.get(webhook_id)
        if hook is None:
            return 404, wp_error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404)
        if not isinstance(data, dict):
            return 400, wp_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if "status" in data and data["status"] not in STATUSES:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): status", 400)
        with self._lock:
            for name in ("status", "name", "delivery_url"):
                if name in data:
                    hook[name] = data[name]
            if "secret" in data:
                self.webhook_secrets[webhook_id] = str(data["secret"])
            hook["date_modified"] = hook["date_modified_gmt"] = _now()
        return 200, dict(hook)

    def list_webhooks(self, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        per_page = int(params.get("per_page", "10"))
        page = int(params.get("page", "1"))
        if not 1 <= per_page <= 100:
            return 400, wp_error("rest_invalid_param", "Invalid parameter(s): per_page", 400), {}
        hooks = sorted(self.webhooks.values(), key=lambda h: h["id"], reverse=True)
        pages = (len(hooks) + per_page - 1) // per_page
        return 200, hooks[(page - 1) * per_page: page * per_page], {
            "X-WP-Total": str(len(hooks)), "X-WP-TotalPages": str(pages)}


class _ConnectHandler(_Handler):
    def _route(self, method: str) -> bool:
        """Answer a webhooks or currency request; False for the parent's routes."""
        fake: FakeWooCommerceConnect = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        one = _WEBHOOK_PATH.match(split.path)
        if split.path not in (WEBHOOKS_PATH, CURRENCY_PATH) and not one:
            return False
        raw = self.read_body() if method in ("POST", "PUT") else b""
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        url = f"http://{self.headers.get('Host')}{split.path}"
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        record: dict[str, Any] = {"method": method, "path": split.path, "params": params, "json": data}
        fake.requests.append(record)
        error = fake.authenticate(method, url, params, self.headers.get("Authorization"))
        if error:
            record["status"] = error["data"]["status"]
            self.send_json(record["status"], error)
            return True
        if fake._failures:
            status, body = fake._failures.pop(0)
            record["status"] = status
            self.send_json(status, body)
            return True
        public = {k: v for k, v in params.items() if not k.startswith("oauth_")}
        headers: dict[str, str] = {}
        if split.path == CURRENCY_PATH and method == "GET":
            status, body = 200, {"code": fake.currency, "name": fake.currency, "symbol": "€"}
        elif split.path == WEBHOOKS_PATH and method == "GET":
            status, body, headers = fake.list_webhooks(public)
        elif split.path == WEBHOOKS_PATH and method == "POST":
            status, body = fake.create_webhook(data)
        elif one and method == "GET":
            hook = fake.webhooks.get(int(one.group(1)))
            status, body = (200, dict(hook)) if hook else (
                404, wp_error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404))
        elif one:
            status, body = fake.update_webhook(int(one.group(1)), data)
        else:
            status, body = 404, wp_error("rest_no_route", "No route was found matching the URL and request method.", 404)
        record["status"] = status
        self.send_json(status, body, headers)
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if not self._route("GET"):
            super().do_GET()

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        if not self._route("POST"):
            super().do_POST()

    def do_PUT(self) -> None:  # noqa: N802 (http.server naming)
        if not self._route("PUT"):
            self.send_json(404, wp_error("rest_no_route", "No route was found matching the URL and request method.", 404))
