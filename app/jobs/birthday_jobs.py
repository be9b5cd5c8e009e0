"""Periodic job: birthday points (app.loyalty.birthdays).

Runs hourly, so every shop's local midnight is covered whatever its time zone; each run
selects the due customers of each shop with one set-based query and fans out chunks of
ids, each chunk one job with its own short transactions. Idempotent by the ledger key
`birthday:{customer_id}:{year}`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.jobs.queues import enqueue
from app.loyalty.birthdays import award_birthday, due_customer_ids
from app.loyalty.program import load_program
from app.models import Shop, utcnow
from app.runtime import get_db

CHUNK = 500


def award_birthdays(now: datetime | None = None) -> int:
    """Queue a chunk job for every batch of due customers of every installed shop with
    birthday points on; returns how many customers were queued."""
    now = now or utcnow()
    with get_db().session() as session:
        shops = [
            shop for shop in session.scalars(select(Shop).where(Shop.install_state == "installed"))
            if load_program(shop).birthday_points > 0
        ]
        session.expunge_all()
    queued = 0
    for shop in shops:
        after_id = 0
        while True:
            with get_db().transaction() as session:
                ids = due_customer_ids(session, shop, now, after_id=after_id, limit=CHUNK)
                if ids:
                    enqueue(session, award_birthday_chunk, shop.id, ids, now.isoformat(), queue="low")
            if not ids:
                break
            queued += len(ids)
            after_id = ids[-1]
    return queued


def award_birthday_chunk(shop_id: int, customer_ids: list[int], now_iso: str | None = None) -> int:
    """Award one chunk, one transaction per customer (a failure costs one customer a
    retry, not the chunk). Returns how many were awarded."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    awarded = 0
    for customer_id in customer_ids:
        with get_db().transaction() as session:
            shop = session.get(Shop, shop_id)
            if shop is None:
                return awarded
            if award_birthday(session, shop, customer_id, now) is not None:
                awarded += 1
    return awarded
