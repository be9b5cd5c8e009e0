"""Periodic job: expire lapsed points and remind shoppers before theirs lapse.

`run_expiry` (cron, hourly) selects, per shop with expiry switched on whose local day has
just begun, every customer that may have something to expire or to be reminded of with
one set-based query (`expiry.candidate_customer_ids`) and fans them out in chunks of `CHUNK` to
`expire_customers` on the `low` queue. Each customer is then handled in its own short
transaction: `expire` entries first (keys `expire:{lot}`), then reminder mail for what is
still left (`points_expiring`, event key `expiring:{lot}:{days}`). Running the job twice,
or two chunks side by side, expires once and mails once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.jobs.queues import enqueue
from app.loyalty import expiry
from app.loyalty.program import load_program
from app.mail.outbox import queue_mail
from app.models import Customer, Shop, utcnow
from app.runtime import get_db

log = logging.getLogger(__name__)

CHUNK = 500
QUEUE = "low"


def run_expiry(now: datetime | None = None, *, local_hour: int | None = 0) -> dict[str, int]:
    """Fan out the candidates of every shop whose local time is in hour `local_hour`
    (cron runs hourly, so each shop is handled once a day just after its midnight, when
    its lots expire and its reminder day begins); `local_hour=None` handles every shop
    (a manual run, the benchmark). Returns {"shops": n, "customers": n, "chunks": n}."""
    now = now or utcnow()
    db = get_db()
    with db.session() as session:
        shop_ids = [
            shop.id
            for shop in session.scalars(select(Shop).where(Shop.install_state == "installed"))
            if load_program(shop).points_expire_months is not None
            and (
                local_hour is None or now.astimezone(expiry.shop_timezone(shop)).hour == local_hour
            )
        ]
    counts = {"shops": 0, "customers": 0, "chunks": 0}
    for shop_id in shop_ids:
        with db.transaction() as session:
            shop = session.get(Shop, shop_id)
            if shop is None:
                continue
            ids = expiry.candidate_customer_ids(session, shop, now)
            for start in range(0, len(ids), CHUNK):
                enqueue(
                    session, expire_customers, shop_id, ids[start : start + CHUNK], now, queue=QUEUE
                )
                counts["chunks"] += 1
        counts["shops"] += 1
        counts["customers"] += len(ids)
    return counts


def expire_customers(
    shop_id: int, customer_ids: list[int], now: datetime | None = None
) -> dict[str, int]:
    """Expire and remind for each customer, one transaction each. A failing customer does
    not stop the others; the job then fails so RQ retries it (everything is idempotent)."""
    now = now or utcnow()
    db = get_db()
    counts = {"expired_entries": 0, "expired_points": 0, "reminders": 0}
    errors: list[tuple[int, Exception]] = []
    for customer_id in customer_ids:
        try:
            with db.transaction() as session:
                shop = session.get(Shop, shop_id)
                if shop is None or not shop.is_installed:
                    return counts
                expired, reminded = _expire_and_remind(session, shop, customer_id, now)
        except Exception as exc:
            log.exception("expiry for customer %s of shop %s failed", customer_id, shop_id)
            errors.append((customer_id, exc))
            continue
        counts["expired_entries"] += len(expired)
        counts["expired_points"] += -sum(entry.points for entry in expired)
        counts["reminders"] += reminded
    if errors:
        first_id, first = errors[0]
        raise RuntimeError(
            f"expiry failed for {len(errors)} customers of shop {shop_id} (first: {first_id})"
        ) from first
    return counts


def _expire_and_remind(session, shop: Shop, customer_id: int, now: datetime):
    expired = expiry.expire_customer(session, shop, customer_id, now)
    customer = session.get(Customer, customer_id)
    reminded = 0
    for reminder in expiry.customer_reminders(session, shop, customer_id, now):
        message = queue_mail(
            session,
            shop=shop,
            customer=customer,
            kind="points_expiring",
            event_key=reminder.event_key,
            context={
                "points": reminder.points,
                "expires_on": reminder.expiry_date,
                "days": reminder.days,
                "balance": customer.points_balance,
            },
        )
        reminded += message is not None
    return expired, reminded
