"""Jobs that finish connecting WooCommerce stores and keep their webhooks switched on.

`ensure_woocommerce_webhooks(shop_id)` creates the webhooks a store lacks and re-activates
the ones WooCommerce disabled after failed deliveries (`integrations.woocommerce.
webhook_setup`). Right after a connect it also reads the store's currency, writes the
webhook secret onto existing webhooks, and moves a new store from `connecting` to
`installed`. When it re-activated anything it queues a reconciliation of that shop at
once: the orders whose deliveries failed are polled instead of waiting for the next
15-minute pass (the poll starts at the shop's sync point, which only moves after
complete passes, so it covers the whole time the webhooks were off).

`check_woocommerce_webhooks` is the cron entry: one job per connected WooCommerce shop.
`purge_install_attempts` deletes expired install and connect tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app.models import Shop

log = logging.getLogger(__name__)

QUEUE = "low"
ACTIVE_STATES = ("installed", "connecting")


def check_woocommerce_webhooks() -> dict[str, int]:
    """Cron entry: one `ensure_woocommerce_webhooks` job per connected WooCommerce shop."""
    from app.jobs.queues import enqueue
    from app.runtime import get_db

    with get_db().transaction() as session:
        shop_ids = list(session.scalars(
            select(Shop.id).where(Shop.platform == "woocommerce", Shop.install_state.in_(ACTIVE_STATES))
            .order_by(Shop.id)))
        for shop_id in shop_ids:
            enqueue(session, ensure_woocommerce_webhooks, shop_id, queue=QUEUE)
    log.info("woocommerce webhook check queued for %d shops", len(shop_ids))
    return {"queued": len(shop_ids)}


def ensure_woocommerce_webhooks(shop_id: int, after_connect: bool = False, **client_options: Any) -> dict[str, Any]:
    """Create missing and re-activate disabled webhooks of one store; platform errors
    propagate (the job fails visibly and the next check tries again)."""
    from app.jobs.queues import enqueue
    from app.jobs.reconcile import reconcile_shop
    from app.runtime import get_db, get_settings
    from integrations.woocommerce.client import WooCommerceClient
    from integrations.woocommerce.webhook_setup import delivery_url, ensure_webhooks

    db = get_db()
    settings = get_settings()
    with db.session() as session:
        shop = session.get(Shop, shop_id)
        if shop is None or shop.platform != "woocommerce" or shop.install_state not in ACTIVE_STATES:
            reason = "not found" if shop is None else f"{shop.platform} shop in state {shop.install_state}"
            log.info("woocommerce webhook check for shop %s skipped: %s", shop_id, reason)
            return {"shop_id": shop_id, "skipped": reason}
        connecting = shop.install_state == "connecting"
        secret = str((shop.credentials or {}).get("webhook_secret") or "")
        client = WooCommerceClient.for_shop(shop, settings, **client_options)
    if not secret:
        raise RuntimeError(f"woocommerce shop {shop_id} has no webhook secret; connect the store again")

    currency = store_currency(client) if (after_connect or connecting) else None
    report = ensure_webhooks(client, delivery_url(settings, shop_id), secret, set_secret=after_connect)
    with db.transaction() as session:
        shop = session.get(Shop, shop_id)
        if currency:
            shop.currency = currency
        if shop.install_state == "connecting":
            shop.install_state = "installed"
            log.info("woocommerce shop %s: connected, webhooks active", shop_id)
        if report.reactivated:
            enqueue(session, reconcile_shop, shop_id, queue=QUEUE)
    result = {"shop_id": shop_id, "created": report.created, "updated": report.updated,
              "reactivated": [topic for topic, *_ in report.reactivated], "unchanged": len(report.unchanged),
              "reconcile_queued": bool(report.reactivated)}
    log.info("woocommerce shop %s webhooks: %s", shop_id, result)
    return result


def store_currency(client: Any) -> str | None:
    """The store's currency (`GET /data/currencies/current` → `{"code": "EUR", …}`), or
    None when the store does not say."""
    response = client.send("GET", "data/currencies/current")
    if response.status_code != 200:
        log.warning("woocommerce %s: currency not readable (HTTP %s)", client.store_url, response.status_code)
        return None
    try:
        code = (response.json() or {}).get("code")
    except (ValueError, AttributeError):
        return None
    return code.upper() if isinstance(code, str) and len(code) == 3 and code.isalpha() else None


def purge_install_attempts() -> dict[str, int]:
    """Delete install and connect tokens that expired unused or were used a week ago."""
    from app.install.attempts import purge
    from app.runtime import get_db

    with get_db().transaction() as session:
        deleted = purge(session)
    log.info("install attempts purged: %d", deleted)
    return {"deleted": deleted}
