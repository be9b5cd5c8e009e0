"""Redemptions: the database side of the redemption saga (DESIGN.md, "Redemption is a saga").

`start_redemption` debits the points and records the redemption as `pending` in one
transaction; the caller then creates the discount on the platform (outside any
transaction, see `app.redemption_saga`) and comes back to `mark_issued` or
`fail_and_refund`. Orders using the code make it `used` (`mark_used`); unused codes past
their end become `expired` (`expire_unused`).

Nothing is locked up front: the ledger's conditional UPDATE refuses an overdraw, and the
unique (shop, customer, idempotency key) settles two requests with one key. State changes
after the start lock the redemption row and check its status, so each transition happens
once however many workers race for it. Callers commit; nothing here does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import NotFound, ValidationFailed
from app.loyalty import ledger
from app.loyalty.errors import CustomerNotFound, IdempotencyConflict
from app.loyalty.program import load_program
from app.loyalty.rewards import RewardNotFound, RewardUnavailable, price, redeemable_by
from app.models import Customer, Redemption, Reward, Shop, utcnow

CODE_PREFIX = "LL-"
CODE_LENGTH = 10  # base32 characters after the prefix: 50 bits, not guessable
MAX_KEY_LENGTH = 128  # the column's size
# Statuses whose code may still appear on an order: pending when the platform created the
# code but the saga had not recorded it yet (the order proves the code exists).
USABLE_STATUSES = ("issued", "pending")


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


def derive_code(shop: Shop, redemption_id: int) -> str:
    """The discount code of one redemption: the same on every retry, so a retried platform
    call can never create a second discount, and unguessable without the shop's widget
    secret, so a shopper cannot predict another shopper's code."""
    secret = shop.widget_secret_value()
    if not secret:
        raise RewardUnavailable("this shop cannot issue reward codes (no widget secret)")
    digest = hmac.new(secret.encode(), f"{shop.id}:{redemption_id}".encode(), hashlib.sha256).digest()
    return CODE_PREFIX + base64.b32encode(digest).decode("ascii")[:CODE_LENGTH]


def normalise_code(code: str) -> str:
    """Codes are matched case-insensitively, as both platforms do."""
    return code.strip().upper()


def find_by_key(session: Session, shop_id: int, customer_id: int, idempotency_key: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(
            Redemption.shop_id == shop_id,
            Redemption.customer_id == customer_id,
            Redemption.idempotency_key == idempotency_key,
        )
    )


def start_redemption(
    session: Session,
    shop: Shop,
    customer_id: int,
    reward_id: int,
    idempotency_key: str,
    points: int | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Debit the reward's price and record a `pending` redemption with its code.

    A repeated key for the same reward (and points) returns the first redemption in
    whatever state it is now and debits nothing; a repeated key for anything else raises
    `IdempotencyConflict`. Not enough points raises `InsufficientPoints` and writes nothing.
    """
    now = now or utcnow()
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"an idempotency key of 1 to {MAX_KEY_LENGTH} characters is required",
            code="invalid_idempotency_key",
        )
    existing = find_by_key(session, shop.id, customer_id, idempotency_key)
    if existing is not None:
        return _replay(existing, reward_id, points)

    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop.id)
    )
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    reward = session.scalar(
        select(Reward).where(Reward.id == reward_id, Reward.shop_id == shop.id, Reward.deleted_at.is_(None))
    )
    if reward is None:
        raise RewardNotFound(f"reward {reward_id} not found")
    ok, reason = redeemable_by(reward, customer)
    if not ok:
        raise RewardUnavailable(reason or "this reward is not available")
    cost, value = price(reward, points)

    redemption = Redemption(
        shop_id=shop.id,
        customer_id=customer.id,
        reward_id=reward.id,
        idempotency_key=idempotency_key,
        status="pending",
        reward_kind=reward.kind,
        reward_name=reward.name,
        points_spent=cost,
        value=value,
        currency=shop.currency,
        attempts=0,
        expires_at=now + timedelta(days=reward.code_valid_days) if reward.code_valid_days else None,
        created_at=now,
    )
    try:
        # One savepoint: the row, its code and the debit stand or fall together. A refused
        # debit (InsufficientPoints) rolls the row back; a concurrent request with the same
        # key loses on the unique constraint and answers with the winner's row.
        with session.begin_nested():
            session.add(redemption)
            session.flush()
            redemption.code = derive_code(shop, redemption.id)
            debit = ledger.post(
                session,
                shop_id=shop.id,
                customer_id=customer.id,
                points=-cost,
                kind="redeem",
                idempotency_key=f"redemption:{redemption.id}:debit",
                redemption_id=redemption.id,
                reason=f"reward: {reward.name}"[:200],
                now=now,
            )
            redemption.debit_entry_id = debit.id
            session.flush()
    except IntegrityError:
        winner = find_by_key(session, shop.id, customer_id, idempotency_key)
        if winner is None:
            raise
        return _replay(winner, reward_id, points)
    return redemption


def lock(session: Session, shop_id: int, redemption_id: int) -> Redemption:
    """The redemption under a row lock, freshly read."""
    found = session.scalar(
        select(Redemption)
        .where(Redemption.id == redemption_id, Redemption.shop_id == shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise RedemptionNotFound(f"redemption {redemption_id} not found")
    return found


def mark_issued(
    session: Session, shop_id: int, redemption_id: int, platform_discount_id: str | None,
    now: datetime | None = None,
) -> Redemption:
    """pending → issued. Any other state is returned unchanged (someone finished first)."""
    redemption = lock(session, shop_id, redemption_id)
    if redemption.status == "pending":
        redemption.status = "issued"
        redemption.platform_discount_id = platform_discount_id
        redemption.issued_at = now or utcnow()
        redemption.last_error = None
    return redemption


def record_attempt(
    session: Session, shop_id: int, redemption_id: int, error: str | None
) -> Redemption:
    """Count a platform attempt that settled nothing (the code may still be created later)."""
    redemption = lock(session, shop_id, redemption_id)
    if redemption.status == "pending":
        redemption.attempts += 1
        redemption.last_error = (error or "")[:2000] or None
    return redemption


def fail_and_refund(
    session: Session, shop_id: int, redemption_id: int, error: str, now: datetime | None = None
) -> Redemption:
    """pending → failed, with a compensating credit of the points spent (key
    `redemption:{id}:refund`, reversing the debit). Any other state is left alone."""
    now = now or utcnow()
    redemption = lock(session, shop_id, redemption_id)
    if redemption.status != "pending":
        return redemption
    if redemption.debit_entry_id is not None:
        refund = ledger.post(
            session,
            shop_id=shop_id,
            customer_id=redemption.customer_id,
            points=redemption.points_spent,
            kind="redeem",
            idempotency_key=f"redemption:{redemption.id}:refund",
            redemption_id=redemption.id,
            reverses_entry_id=redemption.debit_entry_id,
            reason=f"reward code could not be created: {redemption.reward_name}"[:200],
            now=now,
        )
        redemption.refund_entry_id = refund.id
    redemption.status = "failed"
    redemption.failed_at = now
    redemption.attempts += 1
    redemption.last_error = error[:2000]
    return redemption


def mark_used(
    session: Session, shop_id: int, code: str, platform_order_id: str, now: datetime | None = None
) -> Redemption | None:
    """The redemption whose code an order used becomes `used`, linked to the order. A code
    we did not issue, or one already used, expired or failed, changes nothing."""
    code = normalise_code(code)
    if not code.startswith(CODE_PREFIX):
        return None
    redemption = session.scalar(
        select(Redemption)
        .where(Redemption.shop_id == shop_id, Redemption.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if redemption is None or redemption.status not in USABLE_STATUSES:
        return None
    redemption.status = "used"
    redemption.platform_order_id = platform_order_id[:64]
    redemption.used_at = now or utcnow()
    return redemption


def release_codes_of_order(session: Session, shop_id: int, platform_order_id: str) -> list[Redemption]:
    """used → issued for the codes of an order whose cancellation gave the code's use back
    on the platform (WooCommerce restores a coupon's usage when its order is cancelled)."""
    used = session.scalars(
        select(Redemption)
        .where(
            Redemption.shop_id == shop_id,
            Redemption.platform_order_id == platform_order_id,
            Redemption.status == "used",
        )
        .with_for_update()
    ).all()
    for redemption in used:
        redemption.status = "issued"
        redemption.platform_order_id = None
        redemption.used_at = None
    return list(used)


def return_points_for_refunded_order(
    session: Session, shop_id: int, platform_order_id: str, now: datetime | None = None
) -> list[Redemption]:
    """Give back the points of reward codes used on an order that was cancelled or fully
    refunded (the shop setting `return_points_on_refunded_reward`). The redemption stays
    `used`; the credit's key (`redemption:{id}:order-refunded`) makes it happen once."""
    used = session.scalars(
        select(Redemption).where(
            Redemption.shop_id == shop_id,
            Redemption.platform_order_id == platform_order_id,
            Redemption.status == "used",
        )
    ).all()
    for redemption in used:
        ledger.post(
            session,
            shop_id=shop_id,
            customer_id=redemption.customer_id,
            points=redemption.points_spent,
            kind="redeem",
            idempotency_key=f"redemption:{redemption.id}:order-refunded",
            redemption_id=redemption.id,
            reverses_entry_id=redemption.debit_entry_id,
            reason=f"reward code used on refunded order: {redemption.reward_name}"[:200],
            now=now,
        )
    return list(used)


def expire_unused(session: Session, shop: Shop, now: datetime | None = None, *, limit: int = 500) -> int:
    """Issued codes past their end become `expired`; with the shop setting
    `return_points_on_code_expiry` each one's points come back (key
    `redemption:{id}:expired`). Rows another worker holds are skipped, not waited for.
    Returns how many expired; call again until it returns 0."""
    now = now or utcnow()
    give_back = load_program(shop).return_points_on_code_expiry
    due = session.scalars(
        select(Redemption)
        .where(
            Redemption.shop_id == shop.id,
            Redemption.status == "issued",
            Redemption.expires_at.is_not(None),
            Redemption.expires_at <= now,
        )
        .order_by(Redemption.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for redemption in due:
        redemption.status = "expired"
        redemption.expired_at = now
        if give_back:
            ledger.post(
                session,
                shop_id=shop.id,
                customer_id=redemption.customer_id,
                points=redemption.points_spent,
                kind="redeem",
                idempotency_key=f"redemption:{redemption.id}:expired",
                redemption_id=redemption.id,
                reverses_entry_id=redemption.debit_entry_id,
                reason=f"unused reward code expired: {redemption.reward_name}"[:200],
                now=now,
            )
    session.flush()
    return len(due)


# -- internals -------------------------------------------------------------------------


def _replay(existing: Redemption, reward_id: int, points: int | None) -> Redemption:
    same_points = points is None or points == existing.points_spent
    if existing.reward_id != reward_id or not same_points:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different redemption",
            details={"redemption_id": existing.id},
        )
    return existing
