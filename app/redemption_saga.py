"""The redemption saga: points become a discount code on the shop's platform, never twice.

1. One transaction (`start_redemption`): debit the points and record the redemption as
   `pending` with its derived code; commit.
2. No transaction open: create the discount on the platform with that code. The code is
   derived from the redemption id, so a retry asks for the same code and "code already
   exists" (`DiscountCodeTaken`) means an earlier attempt worked.
3. One transaction: `issued`; or, when the platform refused for good, a compensating
   credit and `failed`.

A platform that is only temporarily away (timeouts, 5xx, throttling past the client's
patience) leaves the redemption `pending`: the shopper gets `RedemptionProcessing` (503)
and their points stay spent until the sweeper (`complete_pending`, run by
`app.jobs.redemption_jobs.complete_stale_redemptions`) issues the code or, after
`MAX_ATTEMPTS` or `GIVE_UP_AFTER`, gives the points back. Replaying the request with the
same Idempotency-Key returns the code once it exists.

Only one worker talks to the platform about one redemption at a time: a PostgreSQL
session-level advisory lock on a connection that holds no transaction. Were two to
overlap anyway, the second would get `DiscountCodeTaken`, which counts as success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text

from app.config import Settings
from app.db import Database
from app.errors import AppError, NotFound, ServiceUnavailable
from app.loyalty import redemptions
from app.loyalty.rewards import RewardUnavailable
from app.models import Customer, Redemption, Reward, Shop, utcnow
from integrations.base import (
    DiscountCodeTaken,
    DiscountRejected,
    DiscountSpec,
    PlatformAuthError,
    PlatformClient,
    PlatformConfigError,
    PlatformError,
    get_client,
)

log = logging.getLogger(__name__)

# Platform attempts the shopper's own request makes before answering "still processing".
REQUEST_TRIES = 2
# The sweeper gives the points back after this many attempts or this long pending,
# whichever comes first, unless the last attempt finds the code on the platform.
MAX_ATTEMPTS = 10
GIVE_UP_AFTER = timedelta(hours=1)
# Namespace of the advisory locks (the bytes "LLRD"); the second key is the redemption id.
_LOCK_NAMESPACE = 0x4C4C5244
# Platform errors after which retrying the same request cannot help.
_FINAL_ERRORS = (DiscountRejected, PlatformAuthError, PlatformConfigError)

ClientFactory = Callable[..., PlatformClient]


class RedemptionFailed(AppError):
    """The platform refused the code for good; the points were given back."""

    status = 422
    code = "redemption_failed"


class RedemptionProcessing(ServiceUnavailable):
    """The code is not created yet (the platform is slow or down). The points are spent
    and safe: the same request with the same Idempotency-Key returns the code later, or
    the points come back if the code can never be created."""

    code = "redemption_processing"


@dataclass(frozen=True)
class _Outcome:
    created: bool  # the code exists on the platform
    final: bool  # no retry can change the answer
    platform_discount_id: str | None = None
    error: str | None = None


def redeem(
    db: Database,
    settings: Settings,
    shop_id: int,
    customer_id: int,
    reward_id: int,
    idempotency_key: str,
    points: int | None = None,
    client_factory: ClientFactory = get_client,
    now: datetime | None = None,
) -> Redemption:
    """Spend a shopper's points on a reward and return the redemption with its code.

    Raises the domain errors of `start_redemption` (insufficient points, unknown or
    unavailable reward, idempotency conflict) with nothing written; `RedemptionFailed`
    when the platform refused (the points are back); `RedemptionProcessing` when the code
    is still being created."""
    with db.transaction() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise NotFound(f"shop {shop_id} not found")
        if not shop.is_installed:
            raise RewardUnavailable("this store is not accepting redemptions right now")
        redemption = redemptions.start_redemption(
            session, shop, customer_id, reward_id, idempotency_key, points=points, now=now
        )
    if redemption.status == "pending":
        redemption = complete_pending(
            db, settings, redemption.id, client_factory=client_factory, tries=REQUEST_TRIES
        )
    return answer(redemption)


def answer(redemption: Redemption) -> Redemption:
    """The redemption for a shopper, or the error that tells them where their points are."""
    if redemption.status == "failed":
        raise RedemptionFailed(
            f"We could not create your code; your {redemption.points_spent} points are back.",
            details={"redemption_id": redemption.id, "points_returned": redemption.points_spent},
        )
    if redemption.status == "pending":
        raise RedemptionProcessing(
            "Your code is still being created. Your points are safe: try again in a minute.",
            details={"redemption_id": redemption.id},
        )
    return redemption


def complete_pending(
    db: Database,
    settings: Settings,
    redemption_id: int,
    *,
    client_factory: ClientFactory = get_client,
    tries: int = 1,
    give_up: bool = False,
    now: datetime | None = None,
) -> Redemption:
    """Create the code of a pending redemption on the platform and record the outcome.

    Returns the redemption as it is afterwards: `issued`, `failed` (points back), or still
    `pending` (a temporary platform error, or another worker holds it right now). With
    `give_up`, a temporary error is final too: the points are given back. A redemption
    that is no longer pending is returned untouched."""
    with _exclusive(db, redemption_id) as mine:
        with db.session() as session:  # read, then close: no transaction during the call
            redemption = session.get(Redemption, redemption_id)
            if redemption is None:
                raise redemptions.RedemptionNotFound(f"redemption {redemption_id} not found")
            session.refresh(redemption)
            if not mine or redemption.status != "pending":
                return redemption
            shop = session.get(Shop, redemption.shop_id)
            customer = session.get(Customer, redemption.customer_id)
            reward = session.get(Reward, redemption.reward_id) if redemption.reward_id else None
            spec = discount_spec(redemption, customer, reward)
        outcome = _create(client_factory, shop, settings, spec, tries)
        with db.transaction() as session:
            if outcome.created:
                return redemptions.mark_issued(
                    session, redemption.shop_id, redemption.id, outcome.platform_discount_id, now=now
                )
            if outcome.final or give_up:
                log.warning("redemption %s failed and its points were returned: %s",
                            redemption.id, outcome.error)
                return redemptions.fail_and_refund(
                    session, redemption.shop_id, redemption.id, outcome.error or "failed", now=now
                )
            return redemptions.record_attempt(session, redemption.shop_id, redemption.id, outcome.error)


def discount_spec(redemption: Redemption, customer: Customer | None, reward: Reward | None) -> DiscountSpec:
    """The platform-neutral discount for a redemption, from the values frozen on it."""
    kind = "fixed_amount" if redemption.reward_kind == "variable_amount" else redemption.reward_kind
    assert redemption.code is not None
    return DiscountSpec(
        code=redemption.code,
        title=f"{redemption.reward_name} ({redemption.code})"[:255],
        kind=kind,
        value=redemption.value,
        currency=redemption.currency,
        customer_platform_id=customer.platform_id if customer is not None else None,
        customer_email=customer.email if customer is not None else None,
        starts_at=redemption.created_at,
        ends_at=redemption.expires_at,
        min_order_minor=reward.min_order_minor if reward is not None else None,
        combines_with_other_discounts=bool(reward.combines_with_other_discounts) if reward else False,
        redemption_id=redemption.id,
    )


def stale_pending(db: Database, *, older_than: timedelta, now: datetime | None = None,
                  after_id: int = 0, limit: int = 100) -> list[tuple[int, datetime, int]]:
    """(id, created_at, attempts) of pending redemptions older than `older_than`, oldest
    first. Rows another transaction is changing right now are skipped (SKIP LOCKED), so
    concurrent sweepers do not queue up behind each other."""
    cutoff = (now or utcnow()) - older_than
    with db.transaction() as session:
        rows = session.execute(
            select(Redemption.id, Redemption.created_at, Redemption.attempts)
            .where(Redemption.status == "pending", Redemption.created_at <= cutoff,
                   Redemption.id > after_id)
            .order_by(Redemption.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    return [(row.id, row.created_at, row.attempts) for row in rows]


# -- internals -------------------------------------------------------------------------


def _create(client_factory: ClientFactory, shop: Shop, settings: Settings, spec: DiscountSpec,
            tries: int) -> _Outcome:
    last = _Outcome(created=False, final=False, error="not attempted")
    for _ in range(max(tries, 1)):
        try:
            client = client_factory(shop, settings)
            created = client.create_discount(spec)
            return _Outcome(created=True, final=True, platform_discount_id=created.platform_discount_id)
        except DiscountCodeTaken as exc:  # an earlier attempt created our own code
            return _Outcome(created=True, final=True, platform_discount_id=exc.platform_discount_id)
        except _FINAL_ERRORS as exc:
            return _Outcome(created=False, final=True, error=f"{type(exc).__name__}: {exc}")
        except PlatformError as exc:
            last = _Outcome(created=False, final=False, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - an unknown failure may be temporary; keep the row pending
            log.exception("creating the code of redemption %s failed unexpectedly", spec.redemption_id)
            last = _Outcome(created=False, final=False, error=f"{type(exc).__name__}: {exc}")
    return last


@contextmanager
def _exclusive(db: Database, redemption_id: int) -> Iterator[bool]:
    """Yields True when this process may talk to the platform about the redemption.

    A session-level advisory lock lives on the connection, not in a transaction, so the
    platform call holds no transaction open; it is released on exit (or when the
    connection drops). SQLite has no such locks: the derived code is the only guard."""
    if not db.is_postgres:
        yield True
        return
    keys = {"ns": _LOCK_NAMESPACE, "id": redemption_id % 2**31}
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:ns, :id)"), keys))
        try:
            yield got
        finally:
            if got:
                conn.scalar(text("SELECT pg_advisory_unlock(:ns, :id)"), keys)
