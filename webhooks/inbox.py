"""The webhook inbox: store a verified delivery once, then hand it to the worker.

Once-only is the database's job: the unique (shop_id, platform, delivery_key) constraint
decides, inside a savepoint, so two concurrent copies of one delivery cannot both be
stored (no check-then-insert race). Processing is queued only after the row is committed,
so a fast worker never looks for a row that is not there yet. A row that Redis did not take
is left with `enqueued_at` NULL, which is what the sweeper looks for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.jobs import queues
from app.models import WebhookDelivery
from app.models.base import utcnow

log = logging.getLogger(__name__)

QUEUE = "webhooks"


def store_delivery(
    session: Session,
    shop_id: int,
    platform: str,
    topic: str,
    key: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    enqueued_at=None,
) -> tuple[int, bool]:
    """Insert the delivery unless the same (shop, platform, key) is already stored.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING id`: the unique constraint decides,
    so two concurrent copies cannot both be stored and a duplicate leaves the surrounding
    transaction intact. Returns `(delivery id, created)`; for a duplicate, the id of the
    row stored first. The caller commits.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    new_id = session.execute(
        insert(WebhookDelivery.__table__)
        .values(shop_id=shop_id, platform=platform, topic=topic, delivery_key=key,
                headers=dict(headers), body=body, status="received", attempts=0,
                received_at=utcnow(), enqueued_at=enqueued_at)
        .on_conflict_do_nothing(index_elements=["shop_id", "platform", "delivery_key"])
        .returning(WebhookDelivery.id)
    ).scalar()
    if new_id is not None:
        return new_id, True
    existing = session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.shop_id == shop_id,
            WebhookDelivery.platform == platform,
            WebhookDelivery.delivery_key == key,
        )
    )
    return existing, False


def queue_processing(session: Session, delivery_ids: Iterable[int], *,
                     already_stamped: bool = False) -> list[int]:
    """Push `process_delivery` for committed deliveries; return the ids the queue took.

    The rows are committed already, so the jobs go straight to Redis (inline mode runs
    them here). With `already_stamped` the caller set `enqueued_at` in the same commit as
    the row (the receiver's one-commit fast path) and only the failures are cleared;
    otherwise the ids that landed are stamped now. Either way a row Redis did not take
    keeps `enqueued_at` NULL, which is what the sweeper looks for.
    """
    from app.jobs.webhook_jobs import process_delivery, retry_policy

    ids = list(dict.fromkeys(delivery_ids))
    runner = queues.runner()
    landed: list[int] = []
    for delivery_id in ids:
        job = queues.PendingJob(process_delivery, (delivery_id,), {}, QUEUE,
                                {"retry": retry_policy()})
        try:
            runner.submit(job)
        except Exception:
            if runner.inline:
                # The row is stored and stays `received`; the sweeper retries it later.
                log.exception("processing webhook delivery %s inline failed", delivery_id)
                landed.append(delivery_id)
            else:
                log.warning("could not queue webhook delivery %s; the sweeper will", delivery_id)
            continue
        landed.append(delivery_id)
    failed = [i for i in ids if i not in landed]
    if already_stamped and failed:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(failed))
                        .values(enqueued_at=None))
        session.commit()
    elif not already_stamped and landed:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(landed))
                        .values(enqueued_at=utcnow()))
        session.commit()
    return landed


def safe_headers(headers: Iterable[tuple[str, str]], prefix: str, secret_header: str) -> dict[str, Any]:
    """The headers worth keeping with a delivery: the platform's own `prefix` headers and
    the content type and user agent, never the signature (nor cookies or auth)."""
    keep: dict[str, Any] = {}
    secret = secret_header.lower()
    for name, value in headers:
        lowered = name.lower()
        if lowered == secret:
            continue
        if lowered.startswith(prefix.lower()) or lowered in ("content-type", "user-agent"):
            keep[name] = value[:500]
    return keep
