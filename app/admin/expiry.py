"""The points liability report: outstanding points and their money value, by age and by
expiry month. Every figure says which query produced it, so finance can check it."""

from __future__ import annotations

from datetime import datetime

from flask import g
from pydantic import BaseModel
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.errors import NotFound
from app.loyalty import liability
from app.models import Shop, utcnow
from app.openapi import api_route
from app.web import db_session

TAGS = ["reports"]


class Figure(BaseModel):
    points: int
    value_minor: int
    query: str


class BucketOut(BaseModel):
    label: str
    points: int
    value_minor: int


class Breakdown(BaseModel):
    buckets: list[BucketOut]
    query: str


class LiabilityOut(BaseModel):
    as_of: datetime
    currency: str
    timezone: str
    point_value_minor: int
    points_expire_months: int | None
    outstanding: Figure
    pending: Figure
    owed_by_shoppers: Figure
    by_age: Breakdown
    by_expiry_month: Breakdown


@api_route(
    bp,
    "/reports/liability",
    methods=["GET"],
    response=LiabilityOut,
    tags=TAGS,
    security="staffToken",
    summary="Points liability: outstanding points and money value by age and expiry month",
    responses={401: "no or bad staff token"},
)
@require_staff("viewer")
def get_liability() -> LiabilityOut:
    session = db_session()
    shop = session.scalar(select(Shop).where(Shop.id == g.shop_id))
    if shop is None:
        raise NotFound("shop not found")
    report = liability.liability_report(session, shop, utcnow())
    value = report.point_value_minor

    def figure(points: int, query: str) -> Figure:
        return Figure(points=points, value_minor=points * value, query=query)

    def breakdown(buckets: list[liability.Bucket], query: str) -> Breakdown:
        return Breakdown(
            buckets=[
                BucketOut(label=b.label, points=b.points, value_minor=b.value_minor)
                for b in buckets
            ],
            query=query,
        )

    return LiabilityOut(
        as_of=report.as_of,
        currency=report.currency,
        timezone=report.timezone,
        point_value_minor=value,
        points_expire_months=report.points_expire_months,
        outstanding=figure(report.outstanding_points, liability.OUTSTANDING_QUERY),
        pending=figure(report.pending_points, liability.PENDING_QUERY),
        owed_by_shoppers=figure(report.owed_points, liability.OWED_QUERY),
        by_age=breakdown(report.by_age, liability.BY_AGE_QUERY),
        by_expiry_month=breakdown(report.by_expiry_month, liability.BY_EXPIRY_QUERY),
    )
