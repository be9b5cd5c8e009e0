"""The win-back campaign: its settings (read by anyone on staff, changed by admins,
audited) and its results against the holdout (`app.analytics.winback.winback_results`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from flask import g
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.schemas import _partial
from app.analytics.winback import winback_results
from app.errors import NotFound, ValidationFailed
from app.loyalty.winback import CampaignSettings, load_campaign_settings, settings_update
from app.models import Reward, Shop, WinbackCampaign, utcnow
from app.openapi import api_route, validation_details
from app.web import db_session

TAGS = ["campaigns"]

WinbackCampaignUpdate = _partial(CampaignSettings, "WinbackCampaignUpdate")
WinbackCampaignUpdate.__doc__ = "Win-back settings to change; omitted ones keep their value."


class WinbackCampaignOut(CampaignSettings):
    last_run_at: datetime | None = None


class ResultsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="Only offers made at or after this instant.")
    until: datetime | None = Field(default=None, description="Only offers made before this instant.")
    stage: Literal["at_risk", "lapsed"] | None = Field(default=None, description="Only this stage.")

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """An instant without a zone is taken as UTC."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class GroupOut(BaseModel):
    shoppers: int
    converted: int
    conversion_rate: float | None
    revenue_minor: int


class Interval(BaseModel):
    low: float
    high: float


class LiftOut(BaseModel):
    conversion_rate_difference: float | None = Field(description="Offered minus holdout conversion rate.")
    conversion_rate_difference_ci95: Interval | None
    incremental_conversions: float | None = Field(description="Rate difference × offered shoppers.")
    incremental_conversions_ci95: Interval | None
    incremental_revenue_minor: float | None = Field(
        description="Difference of mean revenue per shopper × offered shoppers (minor units)."
    )
    incremental_revenue_ci95_minor: Interval | None
    method: str


class WinbackResultsOut(BaseModel):
    as_of: datetime
    currency: str
    attribution_days: int
    selected: int = Field(description="Shoppers selected, holdout included.")
    offered: int = Field(description="Selected and not held out (the treated group).")
    sent: int = Field(description="Offer mails handed to the SMTP server.")
    holdout: int
    window_open: int = Field(description="Offers whose attribution window is still open.")
    offered_group: GroupOut
    holdout_group: GroupOut
    lift: LiftOut


def _shop(*, lock: bool = False) -> Shop:
    stmt = select(Shop).where(Shop.id == g.shop_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    shop = db_session().scalar(stmt)
    if shop is None:
        raise NotFound("shop not found")
    return shop


def _out(campaign: WinbackCampaign | None) -> WinbackCampaignOut:
    settings = load_campaign_settings(campaign.settings if campaign else None)
    return WinbackCampaignOut(**settings.model_dump(), last_run_at=campaign.last_run_at if campaign else None)


@api_route(
    bp, "/campaigns/winback", methods=["GET"], response=WinbackCampaignOut, tags=TAGS,
    security="staffToken", summary="Win-back campaign settings",
    responses={401: "no or bad staff token"},
)
@require_staff("viewer")
def get_winback_campaign() -> WinbackCampaignOut:
    shop = _shop()
    return _out(db_session().scalar(select(WinbackCampaign).where(WinbackCampaign.shop_id == shop.id)))


@api_route(
    bp, "/campaigns/winback", methods=["PUT"], body=WinbackCampaignUpdate, response=WinbackCampaignOut,
    tags=TAGS, security="staffToken",
    summary="Change some or all win-back settings; the rest keep their value (audited)",
    responses={401: "no or bad staff token", 403: "needs the admin role or higher",
               404: "offer_reward_id is not a reward of this shop", 422: "an unknown setting or a bad value"},
)
@require_staff("admin")
def update_winback_campaign(body) -> WinbackCampaignOut:
    session = db_session()
    shop = _shop(lock=True)  # two admins saving at once apply one after the other
    campaign = session.scalar(select(WinbackCampaign).where(WinbackCampaign.shop_id == shop.id))
    current = load_campaign_settings(campaign.settings if campaign else None)
    try:
        updated = settings_update(current, body.model_dump(exclude_unset=True))
    except ValidationError as exc:
        raise ValidationFailed("win-back settings are invalid", details=validation_details(exc)) from None
    for reward_id in {updated.offer_reward_id, updated.lapsed_offer_reward_id} - {None}:
        found = session.scalar(
            select(Reward.id).where(Reward.id == reward_id, Reward.shop_id == shop.id, Reward.deleted_at.is_(None))
        )
        if found is None:
            raise NotFound(f"reward {reward_id} not found", code="reward_not_found")
    after = updated.model_dump(mode="json")
    if campaign is None:
        campaign = WinbackCampaign(shop_id=shop.id, settings=after, created_at=utcnow())
        session.add(campaign)
    else:
        campaign.settings = after
    audit.record(
        session, shop_id=shop.id, staff=g.staff, action="winback_campaign.update",
        target_type="winback_campaign", target_id=shop.id, before=current.model_dump(mode="json"), after=after,
    )
    session.commit()
    return _out(campaign)


@api_route(
    bp, "/campaigns/winback/results", methods=["GET"], query=ResultsQuery, response=WinbackResultsOut,
    tags=TAGS, security="staffToken",
    summary="Win-back results: selected, sent, converted; offered vs holdout with 95% intervals",
    responses={401: "no or bad staff token", 422: "bad since, until or stage"},
)
@require_staff("viewer")
def get_winback_results(query: ResultsQuery) -> WinbackResultsOut:
    shop = _shop()
    r = winback_results(db_session(), shop.id, since=query.since, until=query.until, stage=query.stage)

    def interval(pair: tuple[float, float] | None) -> Interval | None:
        return Interval(low=pair[0], high=pair[1]) if pair is not None else None

    def group(x) -> GroupOut:
        return GroupOut(shoppers=x.shoppers, converted=x.converted, conversion_rate=x.conversion_rate,
                        revenue_minor=x.revenue_minor)

    return WinbackResultsOut(
        as_of=r.as_of, currency=r.currency, attribution_days=r.attribution_days, selected=r.selected,
        offered=r.offered, sent=r.sent, holdout=r.holdout, window_open=r.window_open,
        offered_group=group(r.treated), holdout_group=group(r.control),
        lift=LiftOut(
            conversion_rate_difference=r.rate_difference,
            conversion_rate_difference_ci95=interval(r.rate_difference_ci),
            incremental_conversions=r.incremental_conversions,
            incremental_conversions_ci95=interval(r.incremental_conversions_ci),
            incremental_revenue_minor=r.incremental_revenue_minor,
            incremental_revenue_ci95_minor=interval(r.incremental_revenue_ci),
            method=r.method,
        ),
    )
