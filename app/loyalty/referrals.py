"""Referrals: a member's link brings a new shopper; the new shopper gets a welcome code,
the member gets points once that shopper's first order is paid and past the pending
period.

Flow (docs/earning-beyond-orders.md):
1. `claim` — a signed-in new shopper presents a member's code. Refused (`ReferralRefused`,
   with a reason code) for: the member's own account (`self_referral`), the same e-mail
   address (`same_email`; case, dots and +tags of the local part ignored), an address
   one of the member's orders shipped to (`same_address`), a shopper who already ordered
   (`existing_customer`), or a shopper referred before by someone else (`already_referred`).
   The same claim twice answers with the first referral.
2. `on_order` (called after every order convergence) — the referred shopper's first order
   that earns points starts the wait: `qualifying` until `pending_days` after it. If that
   order is refunded, cancelled or deleted before then, the referral is `refused`
   (`first_order_refunded`): no reward, ever.
3. `reward_referrer` — at the end of the wait (immediately when `pending_days` is 0; else
   the periodic job), re-checks the order and the address rule, and the referrer's monthly
   limit (`referral_monthly_limit` rewarded referrals per calendar month in the shop's time
   zone; over it → `refused`, `monthly_limit`), then posts `earn_referral` once (key
   `referral:{id}:referrer`).

Payment fingerprints: neither platform's order webhooks carry one (Shopify's
`payment_details` is deprecated and masked; WooCommerce core has none), so only shipping
addresses are compared; `CustomerFingerprint.kind` leaves room for one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app.errors import NotFound, ValidationFailed
from app.loyalty import ledger, redemptions
from app.loyalty.program import load_program
from app.loyalty.rewards import price
from app.models import Customer, LedgerEntry, OrderSnapshot, Redemption, Reward, Shop, utcnow
from app.models.referral import CustomerFingerprint, Referral

CODE_LENGTH = 8
_OPEN = ("claimed", "qualifying")


class ReferralRefused(ValidationFailed):
    code = "referral_refused"


class ReferralCodeNotFound(NotFound):
    code = "referral_code_not_found"


@dataclass(frozen=True)
class RewardOutcome:
    """A referrer was rewarded (the job layer mails them)."""

    referral_id: int
    referrer_id: int
    points: int


# -- codes and links ------------------------------------------------------------------------


def derive_code(shop: Shop, customer_id: int) -> str:
    """The member's code: stable for the member, unguessable without the shop's widget
    secret (a random one when the shop has none)."""
    secret = shop.widget_secret_value()
    if not secret:
        return _random_code()
    digest = hmac.new(secret.encode(), f"referral:{shop.id}:{customer_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:CODE_LENGTH]


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


def ensure_code(session: Session, shop: Shop, customer: Customer) -> str:
    """The member's stored code, assigned (and flushed) on first use."""
    if customer.referral_code:
        return customer.referral_code
    for candidate in (derive_code(shop, customer.id), _random_code(), _random_code()):
        try:
            with session.begin_nested():
                customer.referral_code = candidate
                session.flush()
            return candidate
        except IntegrityError:  # another member holds it (a collision of 40 bits)
            customer.referral_code = None
    raise ReferralRefused("could not assign a referral code; try again", code="referral_code_unavailable")


def referral_url(shop: Shop, customer: Customer | None, app_url: str | None = None) -> str | None:
    """The member's link: the store's home page with `?loyalty_ref=CODE` (the widget keeps
    the code and claims it once the visitor has an account). `app_url` is used only when
    the shop has no storefront address. The code is set on `customer` if it had none; it
    is stored when the caller's session commits (`ensure_code` stores it at once). None
    when the shop's programme has no referrals (no points, no welcome reward)."""
    if customer is None or customer.redacted_at is not None or not referrals_on(shop):
        return None
    if not customer.referral_code:
        customer.referral_code = derive_code(shop, customer.id)
    base = _storefront_base(shop) or (app_url or "").rstrip("/")
    if not base:
        return None
    return f"{base}/?loyalty_ref={customer.referral_code}"


def referrals_on(shop: Shop) -> bool:
    program = load_program(shop)
    return program.referral_points > 0 or program.referral_welcome_reward_id is not None


def normalise_email(email: str | None) -> str | None:
    """Lower-case, without +tags, and without dots for Gmail: one inbox, one address."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


# -- claim ----------------------------------------------------------------------------------


def claim(session: Session, shop: Shop, referred: Customer, code: str, now: datetime | None = None) -> Referral:
    """Record that `referred` came through the member whose code this is (see the module
    docstring for what is refused). Idempotent for the same code."""
    now = now or utcnow()
    program = load_program(shop)
    if not referrals_on(shop):
        raise ReferralRefused("this store has no referral programme", code="referrals_off")
    referrer = session.scalar(
        select(Customer).where(Customer.shop_id == shop.id, Customer.referral_code == normalise_code(code))
    )
    if referrer is None or referrer.redacted_at is not None:
        raise ReferralCodeNotFound("this referral link is not valid")
    existing = session.scalar(
        select(Referral).where(Referral.shop_id == shop.id, Referral.referred_customer_id == referred.id)
    )
    if existing is not None:
        if existing.referrer_customer_id == referrer.id:
            return existing
        _refuse("already_referred", "you were already referred by another member")
    reason = claim_refusal(session, shop, referrer, referred)
    if reason is not None:
        _refuse(reason, _MESSAGES[reason])
    referral = Referral(
        shop_id=shop.id, referrer_customer_id=referrer.id, referred_customer_id=referred.id,
        code=referrer.referral_code, status="claimed", claimed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(referral)
            session.flush()
    except IntegrityError:  # a concurrent claim for the same shopper won
        winner = session.scalar(
            select(Referral).where(Referral.shop_id == shop.id, Referral.referred_customer_id == referred.id)
        )
        if winner is None or winner.referrer_customer_id != referrer.id:
            _refuse("already_referred", "you were already referred by another member")
        return winner
    referred.referred_by_customer_id = referrer.id
    if program.referral_welcome_reward_id is not None:
        _start_welcome_redemption(session, shop, referral, program.referral_welcome_reward_id, now)
    return referral


def claim_refusal(session: Session, shop: Shop, referrer: Customer, referred: Customer) -> str | None:
    """Why `referrer` may not refer `referred`, or None."""
    if referrer.id == referred.id:
        return "self_referral"
    mine, theirs = normalise_email(referrer.email), normalise_email(referred.email)
    if mine is not None and mine == theirs:
        return "same_email"
    if _is_existing_customer(session, shop.id, referred):
        return "existing_customer"
    if shares_fingerprint(session, shop.id, referrer.id, referred.id):
        return "same_address"
    return None


def shares_fingerprint(session: Session, shop_id: int, a: int, b: int) -> bool:
    """Do the two customers' orders share a shipping address (or payment fingerprint)?"""
    mine, theirs = aliased(CustomerFingerprint), aliased(CustomerFingerprint)
    hit = session.scalar(
        select(mine.id)
        .join(theirs, (theirs.shop_id == mine.shop_id) & (theirs.kind == mine.kind)
              & (theirs.fingerprint == mine.fingerprint))
        .where(mine.shop_id == shop_id, mine.customer_id == a, theirs.customer_id == b)
        .limit(1)
    )
    return hit is not None


# -- orders ---------------------------------------------------------------------------------


def on_order(session: Session, shop: Shop, order_id: int, now: datetime) -> RewardOutcome | None:
    """Follow the referred shopper's first earning order (see the module docstring).
    Called in the order's transaction after it converged; idempotent."""
    snap = session.scalar(select(OrderSnapshot).where(OrderSnapshot.id == order_id, OrderSnapshot.shop_id == shop.id))
    if snap is None or snap.customer_id is None:
        return None
    referral = session.scalar(
        select(Referral)
        .where(Referral.shop_id == shop.id, Referral.referred_customer_id == snap.customer_id,
               Referral.status.in_(_OPEN))
        .with_for_update()
    )
    if referral is None:
        return None
    if referral.status == "claimed":
        if snap.target_points <= 0:
            return None
        pending_days = load_program(shop).pending_days
        referral.status = "qualifying"
        referral.order_id = snap.id
        referral.qualifies_at = now + timedelta(days=pending_days)
        session.flush()
    elif referral.order_id == snap.id and snap.target_points <= 0:
        _close(referral, "refused", "first_order_refunded", now)
        return None
    if referral.qualifies_at is not None and referral.qualifies_at <= now:
        return reward_referrer(session, shop, referral.id, now)
    return None


def due_referral_ids(session: Session, now: datetime, *, after_id: int = 0, limit: int = 500) -> list[tuple[int, int]]:
    """(shop_id, referral_id) of referrals whose wait is over."""
    rows = session.execute(
        select(Referral.shop_id, Referral.id)
        .where(Referral.status == "qualifying", Referral.qualifies_at <= now, Referral.id > after_id)
        .order_by(Referral.id)
        .limit(limit)
    ).all()
    return [(int(r.shop_id), int(r.id)) for r in rows]


def reward_referrer(session: Session, shop: Shop, referral_id: int, now: datetime) -> RewardOutcome | None:
    """Reward the referrer if the referral's wait is over and every rule still holds;
    otherwise close it as `refused` with the reason, or leave it waiting (the order's
    points are still pending). Returns the reward when this call gave it."""
    referral = session.scalar(
        select(Referral).where(Referral.id == referral_id, Referral.shop_id == shop.id).with_for_update()
    )
    if referral is None or referral.status != "qualifying" or referral.qualifies_at is None:
        return None
    if referral.qualifies_at > now:
        return None
    snap = session.get(OrderSnapshot, referral.order_id) if referral.order_id is not None else None
    if snap is None or snap.target_points <= 0 or snap.cancelled or snap.deleted:
        _close(referral, "refused", "first_order_refunded", now)
        return None
    _, pending = ledger.sum_for_order(session, shop.id, snap.id)
    if pending > 0:  # the order's own points are not spendable yet: wait for them
        return None
    # The referrer's row lock serialises their rewards, so the monthly count is exact.
    referrer = session.scalar(
        select(Customer)
        .where(Customer.id == referral.referrer_customer_id, Customer.shop_id == shop.id)
        .with_for_update()
    )
    referred = session.get(Customer, referral.referred_customer_id)
    if referrer is None or referred is None or referrer.redacted_at is not None:
        _close(referral, "refused", "referrer_gone", now)
        return None
    mine, theirs = normalise_email(referrer.email), normalise_email(referred.email)
    if mine is not None and mine == theirs:
        _close(referral, "refused", "same_email", now)
        return None
    if shares_fingerprint(session, shop.id, referrer.id, referred.id):
        _close(referral, "refused", "same_address", now)
        return None
    program = load_program(shop)
    if program.referral_points <= 0:
        _close(referral, "refused", "referrals_off", now)
        return None
    limit = program.referral_monthly_limit
    if limit is not None and rewarded_this_month(session, shop, referrer.id, now) >= limit:
        _close(referral, "refused", "monthly_limit", now)
        return None
    entry = ledger.post(
        session, shop_id=shop.id, customer_id=referrer.id, points=program.referral_points,
        kind="earn_referral", idempotency_key=f"referral:{referral.id}:referrer",
        reason="referral: a friend's first order", now=now,
    )
    referral.reward_entry_id = entry.id
    _close(referral, "rewarded", None, now)
    referral.rewarded_at = now
    return RewardOutcome(referral_id=referral.id, referrer_id=referrer.id, points=entry.points)


def rewarded_this_month(session: Session, shop: Shop, referrer_id: int, now: datetime) -> int:
    """Referrals rewarded to this referrer since the start of the month (shop time)."""
    local = now.astimezone(_zone(shop))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(session.scalar(
        select(func.count()).select_from(Referral).where(
            Referral.shop_id == shop.id, Referral.referrer_customer_id == referrer_id,
            Referral.status == "rewarded", Referral.rewarded_at >= start,
        )
    ) or 0)


# -- internals ------------------------------------------------------------------------------

_MESSAGES = {
    "self_referral": "you cannot use your own referral link",
    "same_email": "you cannot use your own referral link",
    "same_address": "this referral link belongs to someone at your address",
    "existing_customer": "referral links are for new customers",
}


def _refuse(reason: str, message: str) -> None:
    raise ReferralRefused(message, details={"reason": reason})


def _close(referral: Referral, status: str, reason: str | None, now: datetime) -> None:
    referral.status = status
    referral.refusal_reason = reason
    referral.closed_at = now


def _is_existing_customer(session: Session, shop_id: int, customer: Customer) -> bool:
    if customer.orders_count > 0 or customer.first_order_at is not None:
        return True
    paid = session.scalar(
        select(OrderSnapshot.id).where(
            OrderSnapshot.shop_id == shop_id, OrderSnapshot.customer_id == customer.id,
            OrderSnapshot.paid.is_(True),
        ).limit(1)
    )
    if paid is not None:
        return True
    earned = session.scalar(
        select(LedgerEntry.id).where(
            LedgerEntry.shop_id == shop_id, LedgerEntry.customer_id == customer.id,
            LedgerEntry.kind == "earn_order",
        ).limit(1)
    )
    return earned is not None


def _start_welcome_redemption(session: Session, shop: Shop, referral: Referral, reward_id: int,
                              now: datetime) -> Redemption | None:
    """A pending redemption of the welcome reward for 0 points: the redemption saga creates
    its code on the platform (the job layer starts it after commit; the sweeper finishes
    it after an outage). A missing or deleted reward gives no code."""
    reward = session.scalar(
        select(Reward).where(Reward.id == reward_id, Reward.shop_id == shop.id,
                             Reward.active.is_(True), Reward.deleted_at.is_(None))
    )
    if reward is None:
        return None
    try:
        _, value = price(reward)
    except ValidationFailed:
        value = reward.value
    redemption = Redemption(
        shop_id=shop.id, customer_id=referral.referred_customer_id, reward_id=reward.id,
        idempotency_key=f"referral-welcome:{referral.id}", status="pending",
        reward_kind=reward.kind, reward_name=reward.name, points_spent=0, value=value,
        currency=shop.currency, attempts=0,
        expires_at=now + timedelta(days=reward.code_valid_days) if reward.code_valid_days else None,
        created_at=now,
    )
    session.add(redemption)
    session.flush()
    redemption.code = redemptions.derive_code(shop, redemption.id)
    referral.welcome_redemption_id = redemption.id
    session.flush()
    return redemption


def _random_code() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:CODE_LENGTH]


def _storefront_base(shop: Shop) -> str | None:
    domain = (shop.domain or "").strip().rstrip("/")
    if not domain:
        return None
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def _zone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
