"""Nightly tier recalculation (cron: `recalculate_all_shops`), fanned out per shop.

Per shop one streamed statement computes every shopper's qualifying amounts
(`app.loyalty.tiers.plan_shop`); the shoppers who change are written in chunks, each chunk
its own transaction. Safe to run twice or concurrently with orders: every write is a
conditional UPDATE on the tier the plan saw, entry bonuses are unique ledger keys and
`tier_reached` mail is unique per event key. Admin changes to tiers queue
`recalculate_shop_tiers(shop_id, trigger="settings_change")` so they take effect at once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from itertools import islice

from sqlalchemy import select

from app.jobs import tier_hooks
from app.loyalty import tiers
from app.models import Shop, utcnow
from app.models.tier import Tier
from app.runtime import get_db

log = logging.getLogger(__name__)

QUEUE = "low"
CHUNK = 500
JOB_TIMEOUT_SECONDS = 4 * 3600


def recalculate_all_shops(now: datetime | None = None) -> dict[str, int]:
    """Cron entry: one `recalculate_shop_tiers` job per installed shop that has (or had) tiers."""
    from app.jobs.queues import enqueue

    with get_db().transaction() as session:
        shop_ids = list(session.scalars(
            select(Shop.id)
            .where(Shop.install_state == "installed", Shop.id.in_(select(Tier.shop_id).distinct()))
            .order_by(Shop.id)
        ))
        for shop_id in shop_ids:
            enqueue(session, recalculate_shop_tiers, shop_id, now=now, queue=QUEUE,
                    options={"job_timeout": JOB_TIMEOUT_SECONDS})
    log.info("tier recalculation queued for %d shops", len(shop_ids))
    return {"queued": len(shop_ids)}


def recalculate_shop_tiers(
    shop_id: int, trigger: str = "recalculation", now: datetime | None = None, chunk: int = CHUNK
) -> dict[str, int]:
    """Recalculate one shop; returns (and logs) how many shoppers moved up, down or kept
    their tier for another retention period."""
    now = now or utcnow()
    db = get_db()
    counts = {"planned": 0, "entered": 0, "moved_down": 0, "renewed": 0, "skipped": 0}
    with db.session() as reader:
        shop = reader.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            return counts
        by_key = {t.key: t for t in tiers.active_tiers(reader, shop_id)}
        plans = tiers.plan_shop(reader, shop, now, trigger=trigger)
        while batch := list(islice(plans, chunk)):
            counts["planned"] += len(batch)
            with db.transaction() as session:
                writer_shop = session.get(Shop, shop_id)
                applied = tiers.apply_chunk(session, writer_shop, batch, by_key, now)
                for change in applied:
                    counts["entered" if change.entering else "moved_down"] += 1
                    tier_hooks.notify(session, writer_shop, change)
                moves = sum(1 for p in batch if p.moves)
                counts["renewed"] += len(batch) - moves
                counts["skipped"] += moves - len(applied)
    log.info("tiers recalculated for shop %s (%s): %s", shop_id, trigger, counts)
    return counts
