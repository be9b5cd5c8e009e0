"""Pending order points become spendable once their hold (`pending_days`) is over.

`due_pending_ids` is one set-based query; `post_due_entry` posts one entry and is safe to
run twice (posting a posted entry is a no-op; a voided one — the order was refunded in the
meantime — is skipped).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.models import LedgerEntry


def due_pending_ids(session: Session, now: datetime, *, limit: int = 1000, after_id: int = 0) -> list[tuple[int, int]]:
    """(shop_id, entry_id) of pending order earnings whose `available_at` has passed."""
    rows = session.execute(
        select(LedgerEntry.shop_id, LedgerEntry.id)
        .where(
            LedgerEntry.status == "pending",
            LedgerEntry.kind == "earn_order",
            LedgerEntry.available_at <= now,
            LedgerEntry.id > after_id,
        )
        .order_by(LedgerEntry.id)
        .limit(limit)
    ).all()
    return [(int(r.shop_id), int(r.id)) for r in rows]


def post_due_entry(session: Session, shop_id: int, entry_id: int, now: datetime) -> bool:
    """Post one due entry; False when it was already resolved or is not due."""
    entry = session.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.id == entry_id, LedgerEntry.shop_id == shop_id)
        .with_for_update()
    )
    if entry is None or entry.status != "pending" or entry.available_at is None or entry.available_at > now:
        return False
    ledger.post_pending(session, shop_id=shop_id, entry_id=entry_id, now=now)
    return True
