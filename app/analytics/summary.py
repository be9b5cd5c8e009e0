"""The dashboard's whole summary in one call: every KPI of `app.analytics.kpis` for a
period, each figure tagged with its definition id (an anchor in docs/analytics.md)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.analytics import kpis
from app.loyalty.program import load_program
from app.models import Shop


@dataclass(frozen=True)
class Figure:
    id: str
    definition: str
    unit: str  # count | points | minor | ratio
    value: int | Decimal | None
    numerator: int | None = None
    denominator: int | None = None


@dataclass
class Summary:
    shop_id: int
    currency: str
    point_value_minor: int
    start: datetime
    end: datetime
    as_of: datetime
    groups: dict[str, list[Figure]]
    programme: list[Figure]
    months: list[kpis.MonthRow]
    winback: dict[str, Any] | None
    winback_note: str | None
    definitions: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(kpis.DEFINITIONS))


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to 4 places; None when there is nothing to divide by."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def _rate(fid: str, definition: str, numerator: int, denominator: int) -> Figure:
    return Figure(fid, definition, "ratio", ratio(numerator, denominator), numerator, denominator)


def winback_figures(session: Session, shop_id: int, start: datetime, end: datetime):
    """(results, note): the win-back campaign's lift with its confidence interval, from the
    campaign's own `app.analytics.winback.winback_results` when it is part of this build
    (None and a note saying why otherwise). Passed through as that function reports it."""
    try:
        module = importlib.import_module("app.analytics.winback")
    except ModuleNotFoundError as exc:
        if exc.name != "app.analytics.winback":
            raise
        return None, "win-back results are not part of this build"
    results = getattr(module, "winback_results", None)
    if results is None:
        return None, "win-back results are not part of this build"
    params = inspect.signature(results).parameters
    kwargs: dict[str, Any] = {}
    for name, value in (("start", start), ("end", end), ("since", start), ("until", end)):
        if name in params:
            kwargs[name] = value
    value = results(session, shop_id, **kwargs)
    if value is None:
        return None, "no win-back campaign results yet"
    return _jsonable(value), None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def build_summary(session: Session, shop_id: int, start: datetime, end: datetime, now: datetime) -> Summary:
    kpis.check_period(start, end)
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise LookupError(f"shop {shop_id} not found")
    value = load_program(shop).point_value_minor

    groups: dict[str, list[Figure]] = {}
    stats = kpis.members_vs_non_members(session, shop_id, start, end)
    clv = kpis.clv_12m(session, shop_id, end)
    for name, s in stats.items():
        groups[name] = [
            Figure(f"{name}.customers_with_orders", "customers-with-orders", "count", s.customers_with_orders),
            _rate(f"{name}.repeat_purchase_rate", "repeat-purchase-rate", s.repeat_customers, s.customers_with_orders),
            Figure(f"{name}.aov_minor", "aov", "minor", s.aov_minor, s.revenue_minor, s.orders),
            Figure(
                f"{name}.revenue_per_customer_minor", "revenue-per-customer", "minor",
                s.revenue_per_customer_minor, s.revenue_minor, s.customers_with_orders,
            ),
            Figure(
                f"{name}.clv_12m_minor", "clv-12m", "minor", clv[name].value_minor,
                None, clv[name].customers,
            ),
        ]
    guest_count, guest_revenue = kpis.guest_orders(session, shop_id, start, end)
    participants, members = kpis.participation(session, shop_id, start, end)
    flow = kpis.points_flow(session, shop_id, start, end)
    current = kpis.current_liability(session, shop_id, now)
    programme = [
        Figure("members", "members", "count", members),
        _rate("participation_rate", "participation-rate", participants, members),
        _rate("redemption_rate", "redemption-rate", flow.redeemed, flow.issued),
        Figure("points_issued", "points-issued", "points", flow.issued),
        Figure("points_redeemed", "points-redeemed", "points", flow.redeemed),
        Figure("points_expired", "points-expired", "points", flow.expired),
        Figure("outstanding_points", "points-liability", "points", current.outstanding_points),
        Figure("liability_minor", "points-liability", "minor", current.outstanding_points * value),
        Figure("guest_orders", "guest-orders", "count", guest_count),
        Figure("guest_revenue_minor", "guest-orders", "minor", guest_revenue),
    ]
    winback, note = winback_figures(session, shop_id, start, end)
    return Summary(
        shop_id=shop_id,
        currency=shop.currency,
        point_value_minor=value,
        start=start,
        end=end,
        as_of=now,
        groups=groups,
        programme=programme,
        months=kpis.monthly(session, shop_id, start, end),
        winback=winback,
        winback_note=note,
    )
