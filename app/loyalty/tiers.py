"""VIP tiers: who is in which tier, and why.

A tier's entry threshold is measured on one of two amounts, over one of three windows:

* `points_earned` — earning entries of the ledger (`ledger.EARNING_KINDS`, posted or still
  pending, so entry does not wait for a return window), reversals included. An entry that
  belongs to an order is dated by the order (`placed_at`), so a refund takes the points off
  the year the order was placed in. Tier entry bonuses are `adjust` entries and never count.
* `money_spent` — per order snapshot, the eligible amount minus the refunded eligible
  amount (minor units of shop currency; the same amount orders earn on), for paid orders
  that are not cancelled, deleted or test, in the shop currency, dated by `placed_at`.
* windows: `lifetime`; `calendar_year` (since 1 January, in the shop's time zone);
  `rolling_12_months` (since the same local time one year ago; 29 February → 28 February).

Rules (docs/tiers.md):

* **Entry** is immediate: an order calls `enter_or_move(..., allow_downgrade=False)`, which
  only ever moves a shopper up. The shopper gets the tier's entry bonus (once per tier,
  ever — the ledger key `tier:{key}:bonus:{customer_id}` is unique) and keeps the tier at
  least `retention_days` (`Customer.tier_retained_until`).
* **Downgrade** only happens in the nightly recalculation (`allow_downgrade=True`), once
  the retention period is over: a shopper who still qualifies keeps the tier for another
  retention period; one who does not moves to the best tier they do qualify for (or none).
* **Settings change on a live programme**: nothing is deleted or re-created. A switched-off
  tier's members move at the next recalculation (`tier_removed`, whatever the retention);
  a lowered threshold moves shoppers up at the next recalculation; a raised one takes
  effect for each member when their retention period ends. Every move is a `TierChange`
  row with the figures used.

The nightly recalculation is set-based: one SQL statement per shop computes every
shopper's qualifying amounts (`amounts_query`), streamed; only the shoppers who change
are written, each with a conditional UPDATE that skips a shopper changed meanwhile (an
order's immediate entry wins; the next run looks again).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.loyalty import ledger
from app.models import Customer, LedgerEntry, OrderSnapshot, Shop
from app.models.tier import Tier, TierChange

BONUS_KIND = "adjust"
COUNTED_STATUSES = ("posted", "pending")
STREAM_ROWS = 5_000

_entries = LedgerEntry.__table__
_orders = OrderSnapshot.__table__
_customers = Customer.__table__


# -- tiers of a shop --------------------------------------------------------------------------


def active_tiers(session: Session, shop_id: int) -> list[Tier]:
    """The shop's active tiers, lowest rank first."""
    return list(
        session.scalars(
            select(Tier).where(Tier.shop_id == shop_id, Tier.active.is_(True)).order_by(Tier.rank, Tier.id)
        )
    )


def multiplier_for(session: Session, shop: Shop, customer: Customer) -> Decimal:
    """The earn multiplier of the customer's current tier (1 without a tier, or when the
    tier is switched off). Frozen on an order at its first award by `app.loyalty.orders`."""
    if not customer.tier:
        return Decimal(1)
    value = session.scalar(
        select(Tier.earn_multiplier).where(
            Tier.shop_id == shop.id, Tier.key == customer.tier, Tier.active.is_(True)
        )
    )
    return Decimal(value) if value is not None else Decimal(1)


def measure(tier: Tier) -> str:
    """The label of the amount a tier's threshold is measured on, e.g. `points_earned:lifetime`."""
    return f"{tier.threshold_kind}:{tier.window}"


# -- windows ----------------------------------------------------------------------------------


def shop_zone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def window_start(window: str, shop: Shop, now: datetime) -> datetime | None:
    """Where a window begins (UTC), or None for lifetime."""
    if window == "lifetime":
        return None
    local = now.astimezone(shop_zone(shop))
    if window == "calendar_year":
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif window == "rolling_12_months":
        day = 28 if (local.month, local.day) == (2, 29) else local.day
        start = local.replace(year=local.year - 1, day=day)
    else:
        raise ValueError(f"unknown tier window {window!r}")
    # Re-attach the zone so a DST-shifted wall time resolves to the right instant.
    return start.replace(tzinfo=None).replace(tzinfo=local.tzinfo).astimezone(now.tzinfo)


# -- qualifying amounts, set-based ------------------------------------------------------------


@dataclass(frozen=True)
class CustomerAmounts:
    customer_id: int
    tier: str | None
    tier_achieved_at: datetime | None
    tier_retained_until: datetime | None
    amounts: dict[str, int]


def amounts_query(
    shop: Shop, measures: Iterable[str], now: datetime, *, customer_ids: list[int] | None = None,
    include_all: bool = False,
):
    """One statement: every shopper of the shop (or of `customer_ids`) with their current
    tier and one summed column per measure. Without `include_all`, shoppers with neither a
    tier nor any qualifying activity are left out (they qualify for nothing above zero)."""
    measures = sorted(set(measures))
    kinds = {m.split(":")[0] for m in measures}
    starts = {m: window_start(m.split(":")[1], shop, now) for m in measures}
    parts = []
    if "points_earned" in kinds:
        when = func.coalesce(_orders.c.placed_at, _entries.c.created_at)
        parts.append(
            select(
                _entries.c.customer_id.label("customer_id"),
                literal("points_earned").label("kind"),
                _entries.c.points.label("amount"),
                when.label("at"),
            )
            .select_from(
                _entries.outerjoin(
                    _orders, and_(_orders.c.id == _entries.c.order_id, _orders.c.shop_id == shop.id)
                )
            )
            .where(
                _entries.c.shop_id == shop.id,
                _entries.c.kind.in_(sorted(ledger.EARNING_KINDS)),
                _entries.c.status.in_(COUNTED_STATUSES),
                *( [_entries.c.customer_id.in_(customer_ids)] if customer_ids is not None else [] ),
            )
        )
    if "money_spent" in kinds:
        parts.append(
            select(
                _orders.c.customer_id.label("customer_id"),
                literal("money_spent").label("kind"),
                (_orders.c.eligible_minor - _orders.c.refunded_eligible_minor).label("amount"),
                func.coalesce(_orders.c.placed_at, _orders.c.created_at).label("at"),
            ).where(
                _orders.c.shop_id == shop.id,
                _orders.c.customer_id.is_not(None),
                _orders.c.paid.is_(True),
                _orders.c.cancelled.is_(False),
                _orders.c.deleted.is_(False),
                _orders.c.test.is_(False),
                _orders.c.currency == shop.currency,
                *( [_orders.c.customer_id.in_(customer_ids)] if customer_ids is not None else [] ),
            )
        )
    columns = [_customers.c.id, _customers.c.tier, _customers.c.tier_achieved_at, _customers.c.tier_retained_until]
    stmt = select(*columns)
    where = [_customers.c.shop_id == shop.id]
    if customer_ids is not None:
        where.append(_customers.c.id.in_(customer_ids))
    if parts:
        src = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("qualifying")
        sums = []
        for m in measures:
            kind = m.split(":")[0]
            cond = src.c.kind == kind
            if starts[m] is not None:
                cond = and_(cond, src.c.at >= starts[m])
            sums.append(func.sum(case((cond, src.c.amount), else_=0)).label(m))
        bounded = [s for s in starts.values() if s is not None]
        filters = [src.c.at <= now]
        if len(bounded) == len(starts):  # no lifetime measure: read only the window
            filters.append(src.c.at >= min(bounded))
        agg = select(src.c.customer_id, *sums).where(*filters).group_by(src.c.customer_id).subquery("amounts")
        stmt = select(*columns, *[func.coalesce(agg.c[m], 0).label(m) for m in measures]).select_from(
            _customers.outerjoin(agg, agg.c.customer_id == _customers.c.id)
        )
        if customer_ids is None and not include_all:
            where.append(or_(_customers.c.tier.is_not(None), agg.c.customer_id.is_not(None)))
    elif customer_ids is None and not include_all:
        where.append(_customers.c.tier.is_not(None))
    return stmt.where(*where).order_by(_customers.c.id), measures


def stream_amounts(
    session: Session, shop: Shop, tiers: list[Tier], now: datetime, *, customer_ids: list[int] | None = None
) -> Iterator[CustomerAmounts]:
    include_all = any(t.threshold_value <= 0 for t in tiers)
    stmt, measures = amounts_query(
        shop, [measure(t) for t in tiers], now, customer_ids=customer_ids, include_all=include_all
    )
    result = session.execute(stmt, execution_options={"yield_per": STREAM_ROWS})
    for row in result:
        yield CustomerAmounts(
            customer_id=row[0], tier=row[1], tier_achieved_at=row[2], tier_retained_until=row[3],
            amounts={m: int(row[4 + i] or 0) for i, m in enumerate(measures)},
        )


# -- the decision (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedChange:
    """What should happen to one shopper. `from_tier == to_tier` only renews retention."""

    customer_id: int
    from_tier: str | None
    to_tier: str | None
    reason: str  # qualified | retention_ended | tier_removed | retained
    expected_retained_until: datetime | None
    achieved_at: datetime | None
    retained_until: datetime | None
    entering: bool  # reaching a tier above the current one: bonus and mail
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def moves(self) -> bool:
        return self.from_tier != self.to_tier


def qualified_tier(tiers: list[Tier], amounts: dict[str, int]) -> Tier | None:
    """The highest-ranked tier whose threshold the amounts meet."""
    best = None
    for tier in tiers:
        if amounts.get(measure(tier), 0) >= tier.threshold_value and (best is None or tier.rank > best.rank):
            best = tier
    return best


def decide(
    tiers: list[Tier], row: CustomerAmounts, now: datetime, *, allow_downgrade: bool, trigger: str
) -> PlannedChange | None:
    by_key = {t.key: t for t in tiers}
    current = by_key.get(row.tier) if row.tier else None
    removed = row.tier is not None and current is None
    best = qualified_tier(tiers, row.amounts)

    def plan(to: Tier | None, reason: str, entering: bool) -> PlannedChange:
        detail: dict[str, Any] = {
            "trigger": trigger,
            "qualifying_amounts": dict(row.amounts),
            "qualified_for": best.key if best else None,
            "previous_retained_until": row.tier_retained_until.isoformat() if row.tier_retained_until else None,
        }
        if to is not None:
            detail["to_threshold"] = _threshold(to)
        if current is not None:
            detail["from_threshold"] = _threshold(current)
        return PlannedChange(
            customer_id=row.customer_id, from_tier=row.tier, to_tier=to.key if to else None, reason=reason,
            expected_retained_until=row.tier_retained_until,
            achieved_at=now if to is not None and (to.key != row.tier) else (row.tier_achieved_at if to else None),
            retained_until=now + timedelta(days=to.retention_days) if to is not None else None,
            entering=entering, detail=detail,
        )

    if best is not None and (current is None or best.rank > current.rank):
        return plan(best, "tier_removed" if removed and allow_downgrade else "qualified", True)
    if not allow_downgrade:
        return None
    if removed:
        return plan(None, "tier_removed", False)
    if current is None:
        return None
    if row.tier_retained_until is not None and now < row.tier_retained_until:
        return None
    if best is not None and best.key == current.key:
        if current.retention_days == 0 and row.tier_retained_until is not None:
            return None
        return plan(current, "retained", False)
    return plan(best, "retention_ended", False)


def _threshold(tier: Tier) -> dict[str, Any]:
    return {
        "tier": tier.key, "kind": tier.threshold_kind, "window": tier.window,
        "value": tier.threshold_value, "measure": measure(tier),
    }


# -- applying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedChange:
    """A move written to the database: the history row and, on entry, the bonus entry."""

    change: TierChange
    tier: Tier | None
    entering: bool
    bonus_entry: LedgerEntry | None


def apply_planned(
    session: Session, shop: Shop, planned: PlannedChange, tiers: dict[str, Tier], now: datetime
) -> AppliedChange | None:
    """Write one planned change, unless the shopper's tier changed since it was planned
    (then nothing happens). Returns None also for a retention renewal (no move)."""
    result = session.execute(
        update(_customers)
        .where(
            _customers.c.id == planned.customer_id,
            _customers.c.shop_id == shop.id,
            _customers.c.tier.is_not_distinct_from(planned.from_tier),
            _customers.c.tier_retained_until.is_not_distinct_from(planned.expected_retained_until),
        )
        .values(tier=planned.to_tier, tier_achieved_at=planned.achieved_at,
                tier_retained_until=planned.retained_until)
    )
    _forget_cached(session, planned.customer_id)
    if result.rowcount != 1 or not planned.moves:
        return None
    change = TierChange(
        shop_id=shop.id, customer_id=planned.customer_id, from_tier=planned.from_tier,
        to_tier=planned.to_tier, reason=planned.reason, trigger=planned.detail.get("trigger", ""),
        detail=planned.detail, at=now,
    )
    session.add(change)
    tier = tiers.get(planned.to_tier) if planned.to_tier else None
    bonus = None
    if planned.entering and tier is not None and tier.entry_bonus_points > 0:
        bonus = ledger.post(
            session, shop_id=shop.id, customer_id=planned.customer_id, points=tier.entry_bonus_points,
            kind=BONUS_KIND, idempotency_key=f"tier:{tier.key}:bonus:{planned.customer_id}",
            reason=f"bonus for reaching {tier.name}", now=now,
        )
    session.flush()
    return AppliedChange(change=change, tier=tier, entering=planned.entering, bonus_entry=bonus)


def apply_chunk(
    session: Session, shop: Shop, chunk: list[PlannedChange], tiers: dict[str, Tier], now: datetime
) -> list[AppliedChange]:
    """Write many planned changes at once: on PostgreSQL one conditional UPDATE ... FROM
    (VALUES ...) RETURNING for the whole chunk and one multi-row insert of the history;
    elsewhere one `apply_planned` per change. Same rules as `apply_planned`."""
    if not chunk:
        return []
    if session.get_bind().dialect.name != "postgresql":
        applied = [apply_planned(session, shop, p, tiers, now) for p in chunk]
        return [a for a in applied if a is not None]
    stamp = DateTime(timezone=True)
    rows = values(
        column("id", BigInteger), column("old_tier", String), column("old_retained", stamp),
        column("new_tier", String), column("achieved", stamp), column("retained", stamp),
        name="planned",
    ).data([
        (p.customer_id, p.from_tier, p.expected_retained_until, p.to_tier, p.achieved_at, p.retained_until)
        for p in chunk
    ])
    written = set(session.scalars(
        update(_customers)
        .where(
            _customers.c.id == rows.c.id,
            _customers.c.shop_id == shop.id,
            _customers.c.tier.is_not_distinct_from(cast(rows.c.old_tier, String)),
            _customers.c.tier_retained_until.is_not_distinct_from(cast(rows.c.old_retained, stamp)),
        )
        .values(tier=cast(rows.c.new_tier, String), tier_achieved_at=cast(rows.c.achieved, stamp),
                tier_retained_until=cast(rows.c.retained, stamp))
        .returning(_customers.c.id)
    ))
    moved = [p for p in chunk if p.customer_id in written and p.moves]
    for p in chunk:
        if p.customer_id in written:
            _forget_cached(session, p.customer_id)
    changes = [
        TierChange(shop_id=shop.id, customer_id=p.customer_id, from_tier=p.from_tier, to_tier=p.to_tier,
                   reason=p.reason, trigger=p.detail.get("trigger", ""), detail=p.detail, at=now)
        for p in moved
    ]
    session.add_all(changes)
    session.flush()
    applied = []
    for p, change in zip(moved, changes, strict=True):
        tier = tiers.get(p.to_tier) if p.to_tier else None
        bonus = None
        if p.entering and tier is not None and tier.entry_bonus_points > 0:
            bonus = ledger.post(
                session, shop_id=shop.id, customer_id=p.customer_id, points=tier.entry_bonus_points,
                kind=BONUS_KIND, idempotency_key=f"tier:{tier.key}:bonus:{p.customer_id}",
                reason=f"bonus for reaching {tier.name}", now=now,
            )
        applied.append(AppliedChange(change=change, tier=tier, entering=p.entering, bonus_entry=bonus))
    return applied


def _forget_cached(session: Session, customer_id: int) -> None:
    loaded = session.identity_map.get(identity_key(Customer, customer_id))
    if loaded is not None:
        session.expire(loaded)


# -- entry points -------------------------------------------------------------------------------


def evaluate_customer(
    session: Session, shop: Shop, customer_id: int, now: datetime, *, allow_downgrade: bool,
    trigger: str = "order",
) -> PlannedChange | None:
    """What should happen to one shopper now (nothing written)."""
    tiers = active_tiers(session, shop.id)
    for row in stream_amounts(session, shop, tiers, now, customer_ids=[customer_id]):
        return decide(tiers, row, now, allow_downgrade=allow_downgrade, trigger=trigger)
    return None


def enter_or_move(
    session: Session, shop: Shop, customer_id: int, now: datetime, *, allow_downgrade: bool,
    trigger: str = "order",
) -> AppliedChange | None:
    """Evaluate one shopper and write the change. The customer row is locked first, so two
    orders of the same shopper at once record one move."""
    session.execute(
        select(_customers.c.id).where(_customers.c.id == customer_id, _customers.c.shop_id == shop.id)
        .with_for_update()
    )
    tiers = active_tiers(session, shop.id)
    planned = None
    for row in stream_amounts(session, shop, tiers, now, customer_ids=[customer_id]):
        planned = decide(tiers, row, now, allow_downgrade=allow_downgrade, trigger=trigger)
    if planned is None:
        return None
    return apply_planned(session, shop, planned, {t.key: t for t in tiers}, now)


def plan_shop(
    session: Session, shop: Shop, now: datetime, *, trigger: str = "recalculation"
) -> Iterator[PlannedChange]:
    """Every change the recalculation makes in a shop, from one streamed statement."""
    tiers = active_tiers(session, shop.id)
    for row in stream_amounts(session, shop, tiers, now):
        planned = decide(tiers, row, now, allow_downgrade=True, trigger=trigger)
        if planned is not None:
            yield planned


def recalculate_shop(
    session: Session, shop: Shop, now: datetime, *, trigger: str = "recalculation"
) -> list[AppliedChange]:
    """The whole recalculation in one session (small shops, tests). The job
    (`app.jobs.tier_jobs`) runs the same plan with the writes committed in chunks."""
    tiers = {t.key: t for t in active_tiers(session, shop.id)}
    planned = list(plan_shop(session, shop, now, trigger=trigger))
    applied = [apply_planned(session, shop, p, tiers, now) for p in planned]
    return [a for a in applied if a is not None]


# -- progress (the widget) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    tier: Tier | None
    next_tier: Tier | None
    amount: int | None  # the shopper's amount in the next tier's measure
    remaining: int | None  # still needed for the next tier (0: reached at the next evaluation)
    retained_until: datetime | None


def progress(session: Session, shop: Shop, customer: Customer | None, now: datetime) -> Progress:
    """The shopper's tier and how far the next one (by rank) is."""
    tiers = active_tiers(session, shop.id)
    current = next((t for t in tiers if customer is not None and t.key == customer.tier), None)
    above = [t for t in tiers if current is None or t.rank > current.rank]
    next_tier = above[0] if above else None
    retained = customer.tier_retained_until if customer is not None and current is not None else None
    if next_tier is None:
        return Progress(current, None, None, None, retained)
    amount = 0
    if customer is not None:
        for row in stream_amounts(session, shop, [next_tier], now, customer_ids=[customer.id]):
            amount = row.amounts.get(measure(next_tier), 0)
    return Progress(current, next_tier, amount, max(next_tier.threshold_value - amount, 0), retained)


def tier_history(shop_id: int, customer_id: int):
    """The statement for a shopper's tier changes, scoped to the shop (newest first by id)."""
    return select(TierChange).where(TierChange.shop_id == shop_id, TierChange.customer_id == customer_id)

