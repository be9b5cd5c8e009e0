"""Programme analytics in the admin JSON API: `GET /analytics/summary?from=&to=`.

Every figure carries `definition` (an id) and `definition_url` (its section in
docs/analytics.md), so a screen can link each number to how it is computed. The figures
themselves come from `app.analytics` (plain SQL, no Flask)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from flask import g
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from app.admin.api import bp
from app.admin.auth import require_staff
from app.analytics import kpis
from app.analytics.summary import Figure, Summary, build_summary
from app.errors import ValidationFailed
from app.models import utcnow
from app.openapi import api_route
from app.web import db_session

TAGS = ["analytics"]
DEFAULT_DAYS = 90
MONTH_DEFINITIONS = {
    "points_issued": "points-issued",
    "points_redeemed": "points-redeemed",
    "points_expired": "points-expired",
    "outstanding_points": "points-liability",
    "liability_minor": "points-liability",
}


def _iso_day(value: Any) -> Any:
    """Only a calendar day written YYYY-MM-DD (not a timestamp, not a datetime)."""
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError("must be a day written YYYY-MM-DD")
        return value.strip()
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_: IsoDay | None = Field(
        default=None, alias="from",
        description="First day of the period (UTC, inclusive). Default: 89 days before `to`.",
    )
    to: IsoDay | None = Field(
        default=None, description="Last day of the period (UTC, inclusive). Default: today."
    )

    @model_validator(mode="after")
    def _ordered(self) -> PeriodQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")
        if self.from_ and self.to and (self.to - self.from_).days + 1 > kpis.MAX_PERIOD_DAYS:
            raise ValueError(f"the period may span at most {kpis.MAX_PERIOD_DAYS} days")
        return self


def period(query: PeriodQuery, now: datetime) -> tuple[date, date, datetime, datetime]:
    """(first day, last day, start, end): whole UTC days, `end` exclusive."""
    last = query.to or now.astimezone(UTC).date()
    first = query.from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed("`from` must not be after `to`")
    if (last - first).days + 1 > kpis.MAX_PERIOD_DAYS:
        raise ValidationFailed(f"the period may span at most {kpis.MAX_PERIOD_DAYS} days")
    start = datetime.combine(first, time(0), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    return first, last, start, end


class FigureOut(BaseModel):
    id: str
    definition: str = Field(description="Id of the definition; an anchor in docs/analytics.md.")
    definition_url: str
    unit: str = Field(description="count, points, minor (minor units of `currency`) or ratio (0..1).")
    value: int | float | None = Field(description="null when a ratio has nothing to divide by.")
    numerator: int | None = None
    denominator: int | None = None


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM (UTC).")
    start: datetime
    end: datetime
    points_issued: int
    points_redeemed: int
    points_expired: int
    outstanding_points: int = Field(description="At `end`.")
    liability_minor: int = Field(description="outstanding_points × point_value_minor, at `end`.")


class MonthsOut(BaseModel):
    definitions: dict[str, str] = Field(description="Field of a month row -> definition id.")
    rows: list[MonthOut]


class DefinitionOut(BaseModel):
    id: str
    title: str
    formula: str
    url: str


class AnalyticsSummaryOut(BaseModel):
    shop_id: int
    currency: str
    point_value_minor: int
    first_day: date = Field(description="The period's first day (the `from` parameter).")
    last_day: date = Field(description="The period's last day, inclusive (the `to` parameter).")
    as_of: datetime
    members: list[FigureOut]
    non_members: list[FigureOut]
    programme: list[FigureOut]
    months: MonthsOut
    winback: dict[str, Any] | None = Field(
        description="The win-back campaign's results (lift with its confidence interval), "
        "as that campaign reports them; null when unavailable (see winback_note)."
    )
    winback_note: str | None
    winback_definition_url: str
    definitions: list[DefinitionOut]


def figure_out(figure: Figure) -> FigureOut:
    value = figure.value
    if isinstance(value, Decimal):
        value = float(value)
    return FigureOut(
        id=figure.id,
        definition=figure.definition,
        definition_url=kpis.definition_anchor(figure.definition),
        unit=figure.unit,
        value=value,
        numerator=figure.numerator,
        denominator=figure.denominator,
    )


def summary_out(summary: Summary, first: date, last: date) -> AnalyticsSummaryOut:
    return AnalyticsSummaryOut(
        shop_id=summary.shop_id,
        currency=summary.currency,
        point_value_minor=summary.point_value_minor,
        first_day=first,
        last_day=last,
        as_of=summary.as_of,
        members=[figure_out(f) for f in summary.groups["members"]],
        non_members=[figure_out(f) for f in summary.groups["non_members"]],
        programme=[figure_out(f) for f in summary.programme],
        months=MonthsOut(
            definitions=MONTH_DEFINITIONS,
            rows=[
                MonthOut(
                    month=m.month, start=m.start, end=m.end, points_issued=m.issued,
                    points_redeemed=m.redeemed, points_expired=m.expired,
                    outstanding_points=m.outstanding_points, liability_minor=m.liability_minor,
                )
                for m in summary.months
            ],
        ),
        winback=summary.winback,
        winback_note=summary.winback_note,
        winback_definition_url=kpis.definition_anchor("winback-lift"),
        definitions=[
            DefinitionOut(id=key, title=title, formula=formula, url=kpis.definition_anchor(key))
            for key, (title, formula) in kpis.DEFINITIONS.items()
        ],
    )


def shop_summary(shop_id: int, query: PeriodQuery) -> tuple[Summary, date, date]:
    now = utcnow()
    first, last, start, end = period(query, now)
    return build_summary(db_session(), shop_id, start, end, now), first, last


@api_route(
    bp,
    "/analytics/summary",
    methods=["GET"],
    query=PeriodQuery,
    response=AnalyticsSummaryOut,
    tags=TAGS,
    security="staffToken",
    summary="Programme KPIs for a period; every figure links to its definition",
    responses={401: "no or bad staff token", 422: "bad dates, `from` after `to`, or over 731 days"},
)
@require_staff("viewer")
def analytics_summary(query: PeriodQuery) -> AnalyticsSummaryOut:
    summary, first, last = shop_summary(g.shop_id, query)
    return summary_out(summary, first, last)
