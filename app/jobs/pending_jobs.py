"""Periodic job: pending order points whose hold is over become spendable.

Register with RQ's cron (e.g. every 15 minutes): `app.jobs.pending_jobs.post_due_pending`.
"""

from __future__ import annotations

from datetime import datetime

from app.loyalty.pending import due_pending_ids, post_due_entry
from app.models import utcnow
from app.runtime import get_db

CHUNK = 500


def post_due_pending(now: datetime | None = None) -> int:
    """Post every due pending order entry, one short transaction per entry; returns how
    many were posted. Idempotent: a second run finds nothing due."""
    now = now or utcnow()
    posted = 0
    after_id = 0
    while True:
        with get_db().session() as session:
            batch = due_pending_ids(session, now, limit=CHUNK, after_id=after_id)
        if not batch:
            return posted
        for shop_id, entry_id in batch:
            with get_db().transaction() as session:
                if post_due_entry(session, shop_id, entry_id, now):
                    posted += 1
        after_id = batch[-1][1]
