"""Creating and keeping the store's webhooks (`/wp-json/wc/v3/webhooks`).

Topics: the ones `integrations.woocommerce.adapter` acts on — order.created,
order.updated, order.deleted, order.restored, customer.created, customer.updated,
customer.deleted — each delivered to `{APP_URL}/webhooks/woocommerce/<shop_id>` and
signed with the shop's generated secret (`X-WC-Webhook-Signature`).

Webhooks are found by their `delivery_url`, so running this again changes nothing when
all is well: a missing topic is created (`POST`, `status: active`), and one the store
set to `disabled` or `paused` is switched back on (`PUT /webhooks/<id>`
`{"status": "active"}`). WooCommerce disables a webhook after more than 5 consecutive
failed deliveries (`woocommerce_max_webhook_delivery_failures`), and nothing turns it
back on by itself. After every change the answer must show `status: active`.

When the merchant reconnects, the existing webhooks get the (possibly new) secret too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from integrations.base import PlatformAuthError, PlatformError
from integrations.woocommerce.client import wp_error

if TYPE_CHECKING:
    from app.config import Settings
    from integrations.woocommerce.client import WooCommerceClient

log = logging.getLogger(__name__)

TOPICS: tuple[str, ...] = (
    "order.created", "order.updated", "order.deleted", "order.restored",
    "customer.created", "customer.updated", "customer.deleted",
)
INACTIVE_STATUSES = frozenset({"disabled", "paused"})
MAX_PAGES = 20


@dataclass
class WebhookReport:
    created: list[str] = field(default_factory=list)
    # (topic, webhook id, the status it had, when the store last changed it)
    reactivated: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def delivery_url(settings: Settings, shop_id: int) -> str:
    return f"{settings.app_url}/webhooks/woocommerce/{shop_id}"


def _check(response: Any, action: str, store: str) -> Any:
    status = response.status_code
    if status in (401, 403):
        raise PlatformAuthError(f"WooCommerce {store} refused to {action} (HTTP {status}: {wp_error(response)}); "
                                "the merchant must reconnect the store")
    if not 200 <= status < 300:
        raise PlatformError(f"WooCommerce {store} could not {action} (HTTP {status}: {wp_error(response)})")
    try:
        return response.json()
    except ValueError:
        raise PlatformError(f"WooCommerce {store} answered '{action}' with a body that is not JSON") from None


def list_webhooks(client: WooCommerceClient) -> list[dict]:
    hooks: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        response = client.send("GET", "webhooks", params={"per_page": 100, "page": page})
        body = _check(response, "list webhooks", client.store_url)
        if not isinstance(body, list):
            raise PlatformError(f"WooCommerce {client.store_url} answered the webhook list with {type(body).__name__}")
        hooks.extend(h for h in body if isinstance(h, dict))
        try:
            pages = int(response.headers.get("X-WP-TotalPages", 1))
        except (TypeError, ValueError):
            pages = 1
        if page >= pages or not body:
            break
    return hooks


def _same_url(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.strip().rstrip("/") == b.rstrip("/")


def ensure_webhooks(client: WooCommerceClient, url: str, secret: str, *, set_secret: bool = False,
                    topics: tuple[str, ...] = TOPICS) -> WebhookReport:
    """Every topic has an active webhook to `url`; `set_secret` also (re)writes the secret
    on existing ones (after a connect). Raises `PlatformError` when a webhook stays
    inactive, `PlatformAuthError` when the keys are refused."""
    report = WebhookReport()
    ours = [h for h in list_webhooks(client) if _same_url(h.get("delivery_url"), url)]
    for topic in topics:
        existing = sorted((h for h in ours if h.get("topic") == topic), key=lambda h: h.get("id") or 0)
        if not existing:
            body = _check(client.send("POST", "webhooks", data={
                "name": f"Loyalty Loop {topic}", "topic": topic, "delivery_url": url,
                "secret": secret, "status": "active",
            }), f"create the {topic} webhook", client.store_url)
            _require_active(body, topic, client.store_url)
            report.created.append(topic)
            continue
        hook = next((h for h in existing if h.get("status") == "active"), existing[0])
        status = str(hook.get("status") or "")
        changes: dict[str, Any] = {}
        if status != "active":
            changes["status"] = "active"
        if set_secret:
            changes["secret"] = secret
        if not changes:
            report.unchanged.append(topic)
            continue
        body = _check(client.send("PUT", f"webhooks/{hook['id']}", data=changes),
                      f"update the {topic} webhook", client.store_url)
        _require_active(body, topic, client.store_url)
        if status != "active":
            report.reactivated.append((topic, int(hook["id"]), status, hook.get("date_modified_gmt")))
            log.warning("woocommerce %s: %s webhook %s was %s; re-activated", client.store_url, topic,
                        hook["id"], status)
        else:
            report.updated.append(topic)
    return report


def _require_active(body: Any, topic: str, store: str) -> None:
    status = body.get("status") if isinstance(body, dict) else None
    if status != "active":
        raise PlatformError(f"WooCommerce {store}: the {topic} webhook is {status!r}, not active")
