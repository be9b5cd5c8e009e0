"""A fake Shopify shop for installing the app: the OAuth consent screen, the token
endpoint's authorization-code and token-exchange grants, and the GraphQL
`webhookSubscriptionCreate` mutation and `shop` query, on top of `FakeShopifyAdmin`
(which keeps answering the refresh grant and the Admin GraphQL API).

What it follows from shopify.dev:
- Authorize (`/admin/oauth/authorize`): `client_id` must be the app's; `scope`,
  `redirect_uri` and `state` are required. `approve()` plays the merchant clicking
  "Install": Shopify redirects to `redirect_uri` with `code`, `host`, `shop`, `state`,
  `timestamp` and `hmac` (hex HMAC-SHA256 of the sorted other parameters, keyed with the
  app secret).
- Token endpoint (`POST /admin/oauth/access_token`, JSON or form):
  * `client_id`, `client_secret`, `code` [, `expiring=1`]: a code works once; with
    `expiring=1` the answer is an expiring offline token `{access_token, expires_in: 3600,
    refresh_token, refresh_token_expires_in: 7776000, scope}`, without it a non-expiring
    one `{access_token, scope}`.
  * `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` with `subject_token`
    (a session token this fake was told about with `accept_session_token`),
    `subject_token_type=urn:ietf:params:oauth:token-type:id_token` and
    `requested_token_type=urn:shopify:params:oauth:token-type:offline-access-token`;
    an unknown subject token answers 400 `invalid_subject_token`.
  * `grant_type=refresh_token`: as `FakeShopifyAdmin`.
- `webhookSubscriptionCreate(topic, webhookSubscription: {uri | callbackUrl, format})`:
  the address must be https; the same topic and address twice answers the userError
  `{"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has
  already been taken"}` with `webhookSubscription: null`. `uri` exists from 2025-10.
- `shop { name currencyCode ianaTimezone }`.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes.shopify_admin import FakeShopifyAdmin
from integrations.shopify.oauth import sign_query

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
TAKEN = "Address for this topic has already been taken"
WEBHOOK_TOPICS = frozenset({
    "APP_UNINSTALLED", "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "CUSTOMERS_DELETE", "ORDERS_CREATE",
    "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED", "ORDERS_FULFILLED", "REFUNDS_CREATE",
})


class FakeShopifyOAuth(FakeShopifyAdmin):
    def __init__(self, *, shop: str, api_version: str, client_id: str, client_secret: str) -> None:
        super().__init__(shop=shop, access_token="not-issued-yet", api_version=api_version,
                         client_id=client_id, client_secret=client_secret)
        self.token_valid = False
        self.codes: dict[str, str] = {}  # code -> granted scope
        self.used_codes: set[str] = set()
        self.token_requests: list[dict] = []
        self.session_tokens: set[str] = set()
        self.subscriptions: dict[tuple[str, str], str] = {}  # (topic, address) -> id
        self.reject_subscriptions: list[dict] = []  # userErrors for the next creates
        self.shop_info = {"name": "Acme Outdoor", "currencyCode": "EUR", "ianaTimezone": "Europe/Amsterdam"}
        self._subscription_ids = itertools.count(8764000)

    # -- the consent screen ------------------------------------------------------------------
    def approve(self, authorize_url: str, *, scope: str | None = None, timestamp: int | None = None,
                state: str | None = None) -> tuple[str, dict[str, str]]:
        """The merchant approves: (redirect_uri, the signed query Shopify sends there).
        `scope` overrides what is granted (a merchant who edited the request)."""
        split = urlsplit(authorize_url)
        if split.path != f"/{self.shop}/admin/oauth/authorize":
            raise AssertionError(f"not this shop's authorize URL: {split.path}")
        query = dict(parse_qsl(split.query))
        if query.get("client_id") != self.client_id:
            raise AssertionError("Oauth error invalid_request: The client_id is not valid")
        for name in ("scope", "redirect_uri", "state"):
            if not query.get(name):
                raise AssertionError(f"Oauth error invalid_request: {name} is required")
        code = secrets.token_hex(16)
        self.codes[code] = scope if scope is not None else query["scope"]
        params = {
            "code": code,
            "host": base64.b64encode(f"admin.shopify.com/store/{self.shop.split('.')[0]}".encode()).decode(),
            "shop": self.shop,
            "state": state if state is not None else query["state"],
            "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        }
        params["hmac"] = sign_query(params, self.client_secret)
        return query["redirect_uri"], params

    def accept_session_token(self, token: str) -> None:
        self.session_tokens.add(token)

    # -- the token endpoint --------------------------------------------------------------------
    def refresh(self, form: dict[str, str]) -> tuple[int, dict]:
        grant = form.get("grant_type")
        if grant not in (None, "", TOKEN_EXCHANGE):
            return super().refresh(form)
        self.token_requests.append({k: v for k, v in form.items() if k not in ("client_secret", "code",
                                                                                "subject_token")})
        if form.get("client_id") != self.client_id or not hmac.compare_digest(
                form.get("client_secret", ""), self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        if grant == TOKEN_EXCHANGE:
            if form.get("subject_token_type") != ID_TOKEN or form.get("requested_token_type") != OFFLINE_TOKEN:
                return 400, {"error": "invalid_request", "error_description": "Unsupported token types."}
            if form.get("subject_token") not in self.session_tokens:
                return 400, {"error": "invalid_subject_token",
                             "error_description": "The session token is invalid or expired."}
            scope = "read_orders,read_customers,write_discounts,write_app_proxy"
        else:
            code = form.get("code", "")
            if code not in self.codes or code in self.used_codes:
                return 400, {"error": "invalid_request",
                             "error_description": "The authorization code was not found or was already used"}
            self.used_codes.add(code)
            scope = self.codes[code]
        return 200, self._issue(scope, expiring=form.get("expiring") == "1")

    def _issue(self, scope: str, expiring: bool) -> dict:
        with self._lock:
            self.access_token = "shpat_" + secrets.token_hex(16)
            self.token_valid = True
            answer: dict[str, Any] = {"access_token": self.access_token, "scope": scope}
            if expiring:
                self.refresh_token = "shprt_" + secrets.token_hex(16)
                answer.update(expires_in=3600, refresh_token=self.refresh_token, refresh_token_expires_in=7776000)
            else:
                self.refresh_token = None
        return answer

    # -- GraphQL ---------------------------------------------------------------------------------
    def answer(self, query: str, variables: dict) -> tuple[int, dict, dict]:
        if re.search(r"\bwebhookSubscriptionCreate\s*\(", query):
            return 200, {"data": {"webhookSubscriptionCreate": self._subscribe(variables)},
                         "extensions": self._cost(10, self.maximum_available - 10)}, {}
        if re.search(r"\bshop\s*\{", query):
            return 200, {"data": {"shop": dict(self.shop_info)},
                         "extensions": self._cost(1, self.maximum_available - 1)}, {}
        return super().answer(query, variables)

    def _subscribe(self, variables: dict) -> dict:
        topic = variables.get("topic")
        data = variables.get("webhookSubscription") or {}
        if topic not in WEBHOOK_TOPICS:
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["topic"], "message": f"Topic {topic!r} is not valid"}]}
        if "uri" in data and self.api_version < "2025-10":
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["webhookSubscription", "uri"], "message": "uri is not accepted"}]}
        address = data.get("uri") or data.get("callbackUrl") or ""
        field = ["webhookSubscription", "callbackUrl"]
        if self.reject_subscriptions:
            return {"webhookSubscription": None, "userErrors": [self.reject_subscriptions.pop(0)]}
        if not address:
            return {"webhookSubscription": None, "userErrors": [{"field": field, "message": "Address can't be blank"}]}
        if not address.startswith("https://"):
            return {"webhookSubscription": None,
                    "userErrors": [{"field": field, "message": "Address protocol http:// is not supported"}]}
        with self._lock:
            if (topic, address) in self.subscriptions:
                return {"webhookSubscription": None, "userErrors": [{"field": field, "message": TAKEN}]}
            sub_id = f"gid://shopify/WebhookSubscription/{next(self._subscription_ids)}"
            self.subscriptions[(topic, address)] = sub_id
        return {"webhookSubscription": {"id": sub_id, "topic": topic}, "userErrors": []}
