"""Periodic redemption jobs (registered in `app.jobs.cron`).

`complete_stale_redemptions` finishes what a crash or a platform outage left `pending`:
it issues the code (creation is idempotent by the derived code) or, after
`MAX_ATTEMPTS` or `GIVE_UP_AFTER`, gives the points back. `expire_unused_codes` marks
issued codes past their end `expired` (and returns the points when the shop says so).
Both are safe to run twice or side by side.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from app.loyalty.redemptions import expire_unused
from app.models import Redemption, Shop, utcnow
from app.redemption_saga import GIVE_UP_AFTER, MAX_ATTEMPTS, complete_pending, stale_pending
from app.runtime import get_db, get_settings
from integrations.base import get_client

log = logging.getLogger(__name__)

BATCH = 100


def complete_stale_redemptions(
    older_than_seconds: int = 60,
    now: datetime | None = None,
    *,
    client_factory=get_client,
) -> dict[str, int]:
    """Retry every redemption pending longer than `older_than_seconds` (the shopper's own
    request has had its chance by then). Counts by the state each one ends in (issued,
    failed, pending; used or expired when someone else finished it first)."""
    db, settings = get_db(), get_settings()
    now = now or utcnow()
    counts = {"issued": 0, "failed": 0, "pending": 0}
    errors: list[tuple[int, Exception]] = []
    after_id = 0
    while True:
        batch = stale_pending(db, older_than=timedelta(seconds=older_than_seconds), now=now,
                              after_id=after_id, limit=BATCH)
        if not batch:
            break
        for redemption_id, created_at, attempts in batch:
            give_up = attempts + 1 >= MAX_ATTEMPTS or now - created_at >= GIVE_UP_AFTER
            try:
                result = complete_pending(db, settings, redemption_id, client_factory=client_factory,
                                          give_up=give_up, now=now)
            except Exception as exc:  # the others are still swept; the job fails below
                log.exception("sweeping redemption %s failed", redemption_id)
                errors.append((redemption_id, exc))
                continue
            counts[result.status] = counts.get(result.status, 0) + 1
        after_id = batch[-1][0]
    if errors:
        first_id, first = errors[0]
        raise RuntimeError(
            f"{len(errors)} pending redemptions could not be swept (first: {first_id}); "
            "they stay pending for the next run"
        ) from first
    return counts


def expire_unused_codes(now: datetime | None = None) -> int:
    """Expire every issued code past its end, one transaction per shop and batch."""
    db = get_db()
    now = now or utcnow()
    with db.session() as session:
        shop_ids = list(session.scalars(
            select(Redemption.shop_id)
            .where(Redemption.status == "issued", Redemption.expires_at.is_not(None),
                   Redemption.expires_at <= now)
            .distinct()
        ))
    expired = 0
    for shop_id in shop_ids:
        while True:
            with db.transaction() as session:
                shop = session.get(Shop, shop_id)
                if shop is None:
                    break
                done = expire_unused(session, shop, now, limit=500)
            expired += done
            if done < 500:
                break
    return expired
