"""Re-queue webhook deliveries that were stored but never reached a worker.

The receiver acknowledges a delivery once it is committed, even when Redis is down (the
row keeps `enqueued_at` NULL), and a job can be lost with a Redis that dies before a worker
takes it. This sweep finds such rows with one set-based query and queues them again in
chunks. Running it twice, or alongside the receiver, at worst queues a delivery twice,
which processing tolerates (it is idempotent).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select

from app.models import WebhookDelivery
from app.models.base import utcnow
from app.runtime import get_db
from webhooks import inbox

log = logging.getLogger(__name__)

# Longer than a job's whole retry schedule (5 + 30 + 120 + 600 s) plus time to run it:
# a delivery queued this long ago and still `received` lost its job.
STALE_ENQUEUE_SECONDS = 30 * 60
CHUNK_SIZE = 500


def requeue_unprocessed(older_than_seconds: int = 60, *,
                        stale_enqueue_seconds: int = STALE_ENQUEUE_SECONDS,
                        chunk_size: int = CHUNK_SIZE) -> int:
    """Queue processing again for deliveries still `received` that were received more than
    `older_than_seconds` ago and either never queued or queued more than
    `stale_enqueue_seconds` ago. Returns how many were queued."""
    now = utcnow()
    received_before = now - timedelta(seconds=older_than_seconds)
    enqueued_before = now - timedelta(seconds=stale_enqueue_seconds)
    queued = seen = 0
    last_id = 0
    with get_db().session() as session:
        while True:
            ids = list(session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.id > last_id,
                    WebhookDelivery.status == "received",
                    WebhookDelivery.received_at <= received_before,
                    or_(WebhookDelivery.enqueued_at.is_(None),
                        WebhookDelivery.enqueued_at <= enqueued_before),
                )
                .order_by(WebhookDelivery.id)
                .limit(chunk_size)
            ))
            session.rollback()  # end the read; queue_processing commits on its own
            if not ids:
                break
            seen += len(ids)
            last_id = ids[-1]
            queued += len(inbox.queue_processing(session, ids))
    if seen:
        log.info("webhook sweeper: %d of %d unprocessed deliveries queued", queued, seen)
    return queued
