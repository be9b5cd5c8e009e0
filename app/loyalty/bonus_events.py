"""Bonus events: a multiplier on order points for orders placed in a time window,
optionally only for some products ("double points weekend on shoes").

Stacking rule (docs/earning-beyond-orders.md): events never multiply each other. Each
merchandise line gets the **highest** multiplier among the events that apply to it (an
event without products applies to every line); a line no event covers gets 1. The order's
campaign multiplier is the line-amount-weighted average of those, rounded down to 4
decimals, so an event limited to some products lifts only their share of the order.
The window is half-open, `starts_at <= placed_at < ends_at`, on the order's own
`placed_at` (when the shopper bought, not when we heard of it).

The multiplier is frozen on the order at its first award (`OrderSnapshot.campaign_multiplier`,
see `app.loyalty.orders`): a later refund, edit, or a change to the event itself uses the
frozen value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.campaign import BonusEvent

ONE = Decimal(1)
_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Line:
    product_id: str | None
    amount_minor: int


@dataclass(frozen=True)
class Applicable:
    """What an event contributes to the stacking rule (decoupled from the ORM row)."""

    id: int
    multiplier: Decimal
    product_ids: frozenset[str] | None

    def covers(self, product_id: str | None) -> bool:
        return self.product_ids is None or (product_id is not None and product_id in self.product_ids)


def events_at(session: Session, shop_id: int, at: datetime) -> list[Applicable]:
    """The shop's active events whose window contains `at`."""
    rows = session.scalars(
        select(BonusEvent).where(
            BonusEvent.shop_id == shop_id,
            BonusEvent.active.is_(True),
            BonusEvent.starts_at <= at,
            BonusEvent.ends_at > at,
        ).order_by(BonusEvent.id)
    )
    return [
        Applicable(
            id=row.id,
            multiplier=Decimal(row.multiplier),
            product_ids=frozenset(str(p) for p in row.product_ids) if row.product_ids is not None else None,
        )
        for row in rows
    ]


def order_multiplier(events: Sequence[Applicable], lines: Iterable[Line]) -> tuple[Decimal, list[int]]:
    """(campaign multiplier, ids of the events that lifted it) under the stacking rule.

    Without line detail (or with no positive line), only events for every product apply:
    the highest of them."""
    if not events:
        return ONE, []
    lines = [line for line in lines if line.amount_minor > 0]
    if not lines:
        whole = [e for e in events if e.product_ids is None]
        best = max(whole, key=lambda e: e.multiplier, default=None)
        if best is None or best.multiplier <= ONE:
            return ONE, []
        return best.multiplier.quantize(_PLACES, rounding=ROUND_FLOOR), [best.id]
    weighted = Decimal(0)
    total = 0
    used: set[int] = set()
    for line in lines:
        best = max((e for e in events if e.covers(line.product_id)), key=lambda e: e.multiplier, default=None)
        multiplier = ONE
        if best is not None and best.multiplier > ONE:
            multiplier = best.multiplier
            used.add(best.id)
        weighted += multiplier * line.amount_minor
        total += line.amount_minor
    return (weighted / total).quantize(_PLACES, rounding=ROUND_FLOOR), sorted(used)


def lines_from_json(items: object) -> list[Line]:
    """Lines as kept on the order snapshot (`[[product_id, amount_minor], ...]`)."""
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int):
            out.append(Line(product_id=str(item[0]) if item[0] is not None else None, amount_minor=item[1]))
    return out


def lines_to_json(lines: Iterable[Line]) -> list[list]:
    return [[line.product_id, line.amount_minor] for line in lines]
