"""Reconciliation: poll each platform for orders updated since the last sync and converge
every one (DESIGN.md, "Webhook pipeline"). WooCommerce never retries a failed webhook and
Shopify may deliver late or never; this poll is what guarantees no order is missed.

Because orders converge to a target computed from their current state, seeing an order
that webhooks already delivered changes nothing, so the poll may overlap freely. The next
sync starts at the newest platform `updated_at` seen minus `OVERLAP` (platform clocks,
never ours, so clock skew cannot open a gap), and `shop.last_synced_at` moves only after
a pass that read every page: a failed pass is simply repeated from the same point.

`reconcile_all_shops` is the cron entry (see docs/reconciliation.md); it fans out one
`reconcile_shop` job per installed shop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from app.jobs.after_order import after_order_converged
from app.loyalty.events import InvalidPayload
from app.loyalty.orders import converge_order
from app.models import Shop
from app.models.base import utcnow

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
# A shop that never synced starts this long before it installed the app.
FIRST_SYNC_LOOKBACK = timedelta(days=1)
QUEUE = "low"
JOB_TIMEOUT_SECONDS = 3600
PROGRESS_EVERY = 200


def reconcile_all_shops() -> dict[str, int]:
    """Cron entry: one `reconcile_shop` job per installed shop (queued after commit)."""
    from app.jobs.queues import enqueue
    from app.runtime import get_db

    with get_db().transaction() as session:
        shop_ids = list(session.scalars(
            select(Shop.id).where(Shop.install_state == "installed").order_by(Shop.id)
        ))
        for shop_id in shop_ids:
            enqueue(session, reconcile_shop, shop_id, queue=QUEUE,
                    options={"job_timeout": JOB_TIMEOUT_SECONDS})
    log.info("reconciliation queued for %d shops", len(shop_ids))
    return {"queued": len(shop_ids)}


def reconcile_shop(shop_id: int, now: datetime | None = None, **client_options: Any) -> dict[str, Any]:
    """One pass for one shop; returns the counts it also logs.

    Platform errors propagate (the job fails, RQ shows it, the next run starts from the
    same point). Each order converges in its own transaction, so a pass that fails half
    way keeps the orders it already converged — harmless, they converge again next time.
    """
    from app.runtime import get_db, get_settings
    from integrations.base import get_client

    db = get_db()
    with db.session() as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            reason = "not found" if shop is None else f"install state {shop.install_state}"
            log.info("reconcile shop %s skipped: %s", shop_id, reason)
            return {"shop_id": shop_id, "skipped": reason}
        since = shop.last_synced_at or (shop.installed_at - FIRST_SYNC_LOOKBACK)
        client = get_client(shop, get_settings(), **client_options)
        platform = shop.platform

    log.info("reconcile %s shop %s: orders updated since %s", platform, shop_id, since.isoformat())
    counts = {"shop_id": shop_id, "platform": platform, "since": since.isoformat(),
              "fetched": 0, "changed": 0, "unchanged": 0, "stale": 0, "invalid": 0,
              "points_added": 0, "points_taken_back": 0}
    newest: datetime | None = None

    for event in client.iter_orders_updated_since(since):
        counts["fetched"] += 1
        if event.updated_at is not None and (newest is None or event.updated_at > newest):
            newest = event.updated_at
        try:
            with db.transaction() as session:
                shop = session.get(Shop, shop_id)
                result = converge_order(session, shop, event, now=now)
                after_order_converged(session, shop, result, now)
        except InvalidPayload as exc:  # can never apply; the webhook path drops it the same way
            counts["invalid"] += 1
            log.warning("reconcile shop %s: order %s not applied: %s", shop_id, event.platform_order_id, exc)
            continue
        if result.stale:
            counts["stale"] += 1
        elif result.change:
            counts["changed"] += 1
            key = "points_added" if result.change > 0 else "points_taken_back"
            counts[key] += abs(result.change)
        else:
            counts["unchanged"] += 1
        if counts["fetched"] % PROGRESS_EVERY == 0:
            log.info("reconcile shop %s: %d orders so far", shop_id, counts["fetched"])

    counts["invalid"] += getattr(client, "invalid", 0)
    next_since = max(since, newest - OVERLAP) if newest is not None else since
    with db.transaction() as session:
        # Never move the sync point backwards (two passes may finish in any order).
        session.execute(
            update(Shop)
            .where(Shop.id == shop_id, or_(Shop.last_synced_at.is_(None), Shop.last_synced_at < next_since))
            .values(last_synced_at=next_since)
        )
    counts["next_since"] = next_since.isoformat()
    counts["finished_at"] = (now or utcnow()).isoformat()
    log.info("reconcile shop %s done: %s", shop_id, counts)
    return counts
