"""Orders converge (DESIGN.md, "Orders converge, they are not replayed").

Every order event — a webhook of any topic, a refund alone, a deletion, the
reconciliation poll — goes through one path: lock the order snapshot, fold the event into
it (unless it is stale), compute the points the order's *current* state is worth, and
post the difference from what is already booked against the order. Duplicates and
replays compute the same target and post nothing; reordering only changes which state is
the latest. docs/earning.md describes the formula and the reasons for no points.

Reward codes on the order (`discount_codes`) are stored on the snapshot; `on_reward_codes`
is the hook the redemption feature fills (e.g. giving back the points of a reward code
used on a refunded order when `return_points_on_refunded_reward` is on).

The earn basis is frozen at the order's first award: the programme's rate, the shopper's
tier multiplier then (`app.loyalty.tiers.multiplier_for`) and the bonus-event multiplier
for the order's `placed_at` (`app.loyalty.bonus_events`). Until then the target uses the
live values; afterwards every recomputation (refunds, edits) uses the frozen ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.loyalty import bonus_events, ledger
from app.loyalty.customers import refresh_order_stats, upsert_customer
from app.loyalty.events import OrderDeleted, OrderEvent, Refund, RefundEvent, minor_unit_exponent
from app.loyalty.program import ProgramSettings, load_program
from app.models import Customer, LedgerEntry, OrderSnapshot, Shop, utcnow
from app.models.referral import CustomerFingerprint

_RATE_SCALE = 10_000  # points_per_unit and the multipliers have at most 4 decimals
_MAX_MULTIPLIER = Decimal("9999.9999")  # what the snapshot's Numeric(8, 4) columns hold


@dataclass(frozen=True)
class Multipliers:
    """The tier and bonus-event multipliers an order would freeze if it earned now."""

    tier: Decimal = Decimal(1)
    campaign: Decimal = Decimal(1)
    bonus_event_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class OrderResult:
    order_id: int
    platform_order_id: str
    target_points: int
    booked_points: int  # posted + pending against the order, after this call
    change: int  # points added (positive) or taken back (negative) by this call
    stale: bool
    no_points_reason: str | None


@dataclass(frozen=True)
class Target:
    points: int
    reason: str | None
    computation: dict[str, Any]


def converge_order(session: Session, shop: Shop, event: OrderEvent, now: datetime | None = None) -> OrderResult:
    """Bring the order's points to what its latest known state is worth."""
    now = now or utcnow()
    snap = lock_snapshot(session, shop.id, event.platform_order_id)
    if _is_stale(snap, event):
        return _result(session, snap, change=0, stale=True)
    snap.name = event.name or snap.name
    if event.updated_at is not None:
        snap.platform_updated_at = event.updated_at
    snap.placed_at = event.placed_at or snap.placed_at
    snap.status = (event.status or "")[:32]
    snap.financial_status = event.financial_status
    snap.paid = event.paid
    snap.cancelled = event.cancelled
    snap.test = event.test
    snap.deleted = event.deleted
    snap.currency = event.currency.upper()[:3]
    snap.lines_minor = event.lines_minor
    snap.shipping_minor = event.shipping_minor
    snap.tax_minor = event.tax_minor
    snap.gift_card_minor = event.gift_card_minor
    snap.total_minor = event.total_minor
    snap.discount_codes = list(event.discount_codes)
    snap.refunds = _merge_refunds(snap.refunds, event.refunds)
    if event.customer is not None:
        customer, _ = upsert_customer(session, shop.id, event.customer, authoritative=False)
        # The order's owner is fixed once known: its booked points stay on one customer.
        if snap.customer_id is None:
            snap.customer_id = customer.id
        if event.shipping_fingerprint and snap.customer_id == customer.id:
            _remember_fingerprint(session, shop.id, customer.id, "shipping", event.shipping_fingerprint)
    lines = [bonus_events.Line(line.product_id, line.amount_minor) for line in event.lines] or None
    return _settle(session, shop, snap, now, lines=lines)


def apply_refund(session: Session, shop: Shop, event: RefundEvent, now: datetime | None = None) -> OrderResult:
    """A refund on its own (it may arrive before the order): merged into the snapshot."""
    snap = lock_snapshot(session, shop.id, event.platform_order_id)
    snap.refunds = _merge_refunds(snap.refunds, (event.refund,))
    return _settle(session, shop, snap, now or utcnow())


def apply_order_deleted(session: Session, shop: Shop, event: OrderDeleted, now: datetime | None = None) -> OrderResult:
    """The order was deleted (trashed) on the platform: it is worth nothing any more."""
    snap = lock_snapshot(session, shop.id, event.platform_order_id)
    snap.deleted = True
    return _settle(session, shop, snap, now or utcnow())


def lock_snapshot(session: Session, shop_id: int, platform_order_id: str) -> OrderSnapshot:
    """The order's snapshot under a row lock (`SELECT ... FOR UPDATE`), created if new.

    The insert does nothing when a concurrent transaction inserted the same order (unique
    shop_id + platform_order_id); PostgreSQL makes it wait for that transaction, and the
    locking select then reads its row.
    """
    snap = _select_for_update(session, shop_id, platform_order_id)
    if snap is not None:
        return snap
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    with session.begin_nested():
        session.execute(
            insert(OrderSnapshot)
            .values(shop_id=shop_id, platform_order_id=platform_order_id, refunds=[], discount_codes=[])
            .on_conflict_do_nothing(index_elements=["shop_id", "platform_order_id"])
        )
    snap = _select_for_update(session, shop_id, platform_order_id)
    assert snap is not None
    return snap


def compute_target(
    shop: Shop, snap: OrderSnapshot, program: ProgramSettings, live: Multipliers | None = None
) -> Target:
    """The points the snapshot's state is worth, the first reason it is worth none, and
    every input of the formula (kept on the snapshot for "why no points?").

    `live`: the multipliers the order gets if it has not earned yet (frozen values win;
    without either, 1)."""
    basis = _basis(snap, program, live)
    exclude_shipping = basis["exclude_shipping"]
    exclude_tax = basis["exclude_tax"]
    rate = Decimal(basis["earn_rate"])
    tier_multiplier = Decimal(basis["tier_multiplier"])
    campaign_multiplier = Decimal(basis["campaign_multiplier"])
    eligible = snap.lines_minor
    if not exclude_shipping:
        eligible += snap.shipping_minor
    if not exclude_tax:
        eligible += snap.tax_minor
    eligible = max(eligible, 0)
    refunded = sum(
        _refund_from_json(r).eligible_minor(exclude_shipping=exclude_shipping, exclude_tax=exclude_tax)
        for r in snap.refunds or []
    )
    refunded = min(refunded, eligible)
    net = eligible - refunded
    unit = 10 ** minor_unit_exponent(shop.currency)
    rate_scaled = int(rate * _RATE_SCALE)
    tier_scaled = int(tier_multiplier * _RATE_SCALE)
    campaign_scaled = int(campaign_multiplier * _RATE_SCALE)
    worth = net * rate_scaled * tier_scaled * campaign_scaled // (unit * _RATE_SCALE**3)

    reasons: list[str] = []
    if not snap.status:
        reasons.append("order not seen yet")
    if snap.deleted:
        reasons.append("deleted")
    if snap.test:
        reasons.append("test order")
    if snap.cancelled:
        reasons.append("cancelled")
    if not snap.paid:
        reasons.append("not paid")
    if snap.customer_id is None:
        reasons.append("guest order")
    if snap.currency != shop.currency:
        reasons.append("currency differs from the shop currency")
    if eligible == 0 and snap.gift_card_minor > 0:
        reasons.append("gift cards only")
    elif eligible == 0:
        reasons.append("nothing eligible")
    elif net == 0:
        reasons.append("fully refunded")
    elif worth == 0:
        reasons.append("amount below one point")
    points = 0 if reasons else worth
    computation = {
        "formula": f"floor((eligible_minor - refunded_eligible_minor) / {unit} * earn_rate"
                   " * tier_multiplier * campaign_multiplier)",
        "lines_minor": snap.lines_minor,
        "shipping_minor": snap.shipping_minor,
        "tax_minor": snap.tax_minor,
        "gift_card_minor": snap.gift_card_minor,
        "exclude_shipping": exclude_shipping,
        "exclude_tax": exclude_tax,
        "eligible_minor": eligible,
        "refunded_eligible_minor": refunded,
        "net_eligible_minor": net,
        "minor_units_per_unit": unit,
        "earn_rate": str(rate),
        "tier_multiplier": str(tier_multiplier),
        "campaign_multiplier": str(campaign_multiplier),
        "bonus_event_ids": list(basis.get("bonus_event_ids") or []),
        "basis_frozen": snap.earn_rate is not None,
        "currency": snap.currency,
        "shop_currency": shop.currency,
        "points_before_conditions": worth,
        "reasons": reasons,
        "target_points": points,
    }
    return Target(points=points, reason=reasons[0] if reasons else None, computation=computation)


def on_reward_codes(session: Session, shop: Shop, snap: OrderSnapshot) -> None:
    """Reward codes used on this order (`snap.discount_codes`) that are our redemptions'
    codes become `used`, linked to the order.

    Later changes to the order: WooCommerce gives a coupon's use back when its order is
    cancelled, so the redemption returns to `issued` (the code works again). Otherwise a
    cancelled, deleted or fully refunded order leaves the redemption `used`, and with the
    shop setting `return_points_on_refunded_reward` its points come back, once."""
    from app.loyalty import redemptions

    if snap.cancelled and shop.platform == "woocommerce":
        redemptions.release_codes_of_order(session, shop.id, snap.platform_order_id)
        return
    # An order carrying the code has consumed its single use on the platform, paid or not.
    for code in snap.discount_codes or []:
        if isinstance(code, str) and code.strip():
            redemptions.mark_used(session, shop.id, code, snap.platform_order_id)
    fully_refunded = snap.eligible_minor > 0 and snap.refunded_eligible_minor >= snap.eligible_minor
    if (snap.cancelled or snap.deleted or fully_refunded) and load_program(shop).return_points_on_refunded_reward:
        redemptions.return_points_for_refunded_order(session, shop.id, snap.platform_order_id)


# -- internals -------------------------------------------------------------------------


def _settle(
    session: Session, shop: Shop, snap: OrderSnapshot, now: datetime,
    lines: list[bonus_events.Line] | None = None,
) -> OrderResult:
    program = load_program(shop)
    if lines is None:
        lines = bonus_events.lines_from_json((snap.computation or {}).get("product_lines"))
    live = None
    if snap.earn_rate is None and snap.customer_id is not None:
        live = live_multipliers(session, shop, snap.customer_id, snap.placed_at or now, lines)
    target = compute_target(shop, snap, program, live)
    target.computation["product_lines"] = bonus_events.lines_to_json(lines)
    snap.eligible_minor = target.computation["eligible_minor"]
    snap.refunded_eligible_minor = target.computation["refunded_eligible_minor"]
    snap.target_points = target.points
    snap.no_points_reason = target.reason
    snap.computation = target.computation
    session.flush()
    change = 0
    if snap.customer_id is not None:
        change = _book_difference(session, shop, snap, target.points, program, now)
        if change > 0 and snap.earn_rate is None:
            _freeze_basis(snap, target.computation)
        refresh_order_stats(session, shop, snap.customer_id)
    on_reward_codes(session, shop, snap)
    session.flush()
    return _result(session, snap, change=change, stale=False)


def _book_difference(
    session: Session, shop: Shop, snap: OrderSnapshot, target: int, program: ProgramSettings, now: datetime
) -> int:
    posted, pending = ledger.sum_for_order(session, shop.id, snap.id)
    delta = target - (posted + pending)
    if delta == 0:
        return 0
    # The ledger step makes each key unique even when the order returns to an earlier
    # target (paid → refunded → re-bought); the row lock makes the step stable.
    step = session.scalar(
        select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.shop_id == shop.id, LedgerEntry.order_id == snap.id
        )
    )
    label = snap.name or snap.platform_order_id
    if delta > 0:
        hold = program.pending_days > 0
        ledger.post(
            session, shop_id=shop.id, customer_id=snap.customer_id, points=delta, kind="earn_order",
            idempotency_key=f"order:{snap.platform_order_id}:earn:{target}:{step}",
            pending=hold, available_at=now + timedelta(days=program.pending_days) if hold else None,
            order_id=snap.id, reason=f"order {label}", now=now,
        )
        return delta
    need = -delta
    held = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.shop_id == shop.id, LedgerEntry.order_id == snap.id,
               LedgerEntry.status == "pending")
        .order_by(LedgerEntry.id.desc())
    ).all()
    for entry in held:
        if need == 0:
            break
        ledger.void_pending(session, shop_id=shop.id, entry_id=entry.id, now=now)
        if entry.points > need:
            ledger.post(
                session, shop_id=shop.id, customer_id=entry.customer_id, points=entry.points - need,
                kind="earn_order", idempotency_key=f"order:{snap.platform_order_id}:earn:{target}:{step}:rest",
                pending=True, available_at=entry.available_at, order_id=snap.id,
                reason=f"order {label} (after refund)", now=now,
            )
            need = 0
        else:
            need -= entry.points
    if need > 0:
        ledger.post(
            session, shop_id=shop.id, customer_id=snap.customer_id, points=-need, kind="reversal",
            idempotency_key=f"order:{snap.platform_order_id}:reverse:{target}:{step}",
            order_id=snap.id, reason=f"order {label}: {snap.no_points_reason or 'refunded'}", now=now,
        )
    return delta


def live_multipliers(
    session: Session, shop: Shop, customer_id: int, placed_at: datetime, lines: list[bonus_events.Line]
) -> Multipliers:
    """The tier multiplier of the shopper now and the bonus-event multiplier for an order
    placed at `placed_at` with these lines."""
    campaign, used = bonus_events.order_multiplier(bonus_events.events_at(session, shop.id, placed_at), lines)
    return Multipliers(
        tier=_clamp(_tier_multiplier(session, shop, customer_id)),
        campaign=_clamp(campaign),
        bonus_event_ids=tuple(used),
    )


def _tier_multiplier(session: Session, shop: Shop, customer_id: int) -> Decimal:
    try:
        from app.loyalty.tiers import multiplier_for
    except ModuleNotFoundError as exc:  # tiers are not part of this installation
        if exc.name != "app.loyalty.tiers":
            raise
        return Decimal(1)
    customer = session.get(Customer, customer_id)
    if customer is None:
        return Decimal(1)
    return Decimal(multiplier_for(session, shop, customer))


def _clamp(value: Decimal) -> Decimal:
    """Rounded down to the 4 decimals the snapshot keeps, within what its columns hold."""
    value = value.quantize(Decimal("0.0001"), rounding="ROUND_FLOOR")
    return min(max(value, Decimal(0)), _MAX_MULTIPLIER)


def _basis(snap: OrderSnapshot, program: ProgramSettings, live: Multipliers | None = None) -> dict[str, Any]:
    """The earn basis: frozen on the snapshot after the first award, else the programme's
    rate with the live multipliers."""
    if snap.earn_rate is not None:
        frozen = (snap.computation or {}).get("frozen_basis") or {
            "exclude_shipping": program.exclude_shipping, "exclude_tax": program.exclude_tax,
        }
        return {
            **frozen,
            "earn_rate": str(snap.earn_rate),
            "tier_multiplier": str(snap.tier_multiplier if snap.tier_multiplier is not None else 1),
            "campaign_multiplier": str(snap.campaign_multiplier if snap.campaign_multiplier is not None else 1),
        }
    live = live or Multipliers()
    return {"earn_rate": str(program.points_per_unit), "exclude_shipping": program.exclude_shipping,
            "exclude_tax": program.exclude_tax, "tier_multiplier": str(live.tier),
            "campaign_multiplier": str(live.campaign), "bonus_event_ids": list(live.bonus_event_ids)}


def _remember_fingerprint(session: Session, shop_id: int, customer_id: int, kind: str, fingerprint: str) -> None:
    """Keep the hashed address the customer's order used (referral fraud checks)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(CustomerFingerprint)
        .values(shop_id=shop_id, customer_id=customer_id, kind=kind, fingerprint=fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["shop_id", "kind", "fingerprint", "customer_id"])
    )


def _freeze_basis(snap: OrderSnapshot, computation: dict[str, Any]) -> None:
    snap.earn_rate = Decimal(computation["earn_rate"])
    snap.tier_multiplier = Decimal(computation["tier_multiplier"])
    snap.campaign_multiplier = Decimal(computation["campaign_multiplier"])
    snap.computation = {
        **computation,
        "basis_frozen": True,
        "frozen_basis": {
            "exclude_shipping": computation["exclude_shipping"],
            "exclude_tax": computation["exclude_tax"],
            "bonus_event_ids": list(computation.get("bonus_event_ids") or []),
        },
    }


def _is_stale(snap: OrderSnapshot, event: OrderEvent) -> bool:
    if event.updated_at is None or snap.platform_updated_at is None:
        return False
    if event.updated_at < snap.platform_updated_at:
        return True
    # A deletion carries no platform time: only a strictly newer state undoes it.
    return snap.deleted and not event.deleted and event.updated_at <= snap.platform_updated_at


def _merge_refunds(known: list[dict[str, Any]] | None, new: tuple[Refund, ...]) -> list[dict[str, Any]]:
    merged = {str(r["platform_id"]): r for r in known or []}
    for refund in new:
        item = asdict(refund)
        item["created_at"] = refund.created_at.isoformat() if refund.created_at else None
        merged[refund.platform_id] = item
    return [merged[k] for k in sorted(merged)]


def _refund_from_json(item: dict[str, Any]) -> Refund:
    return Refund(
        platform_id=str(item["platform_id"]),
        created_at=None,
        lines_minor=int(item.get("lines_minor", 0)),
        shipping_minor=int(item.get("shipping_minor", 0)),
        tax_minor=int(item.get("tax_minor", 0)),
    )


def _select_for_update(session: Session, shop_id: int, platform_order_id: str) -> OrderSnapshot | None:
    return session.scalar(
        select(OrderSnapshot)
        .where(OrderSnapshot.shop_id == shop_id, OrderSnapshot.platform_order_id == platform_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _result(session: Session, snap: OrderSnapshot, *, change: int, stale: bool) -> OrderResult:
    posted, pending = ledger.sum_for_order(session, snap.shop_id, snap.id)
    return OrderResult(
        order_id=snap.id,
        platform_order_id=snap.platform_order_id,
        target_points=snap.target_points,
        booked_points=posted + pending,
        change=change,
        stale=stale,
        no_points_reason=snap.no_points_reason,
    )
