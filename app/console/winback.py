"""The win-back campaign settings page. Reading uses `app.admin.winback`'s view of the
settings; saving calls the JSON API's own update (`PUT /admin/api/v1/campaigns/winback`,
undecorated) with the console's user as `g.staff`, so the checks (settings validated as a
whole, offer rewards of this shop), the row lock and the audit event are exactly the
API's. Per-language texts are managed through the API."""

from __future__ import annotations

import inspect

from flask import flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from app.admin import winback as winback_api
from app.admin.pagination import MAX_ID
from app.console import auth, bp, forms
from app.errors import NotFound, ValidationFailed
from app.models import Reward, WinbackCampaign
from app.openapi import validation_details
from app.web import db_session

FIELDS = {
    "enabled": "bool",
    "holdout_percent": "int",
    "offer_kind": "text",
    "offer_points": "int",
    "lapsed_offer_points": "int?",
    "offer_reward_id": "int?",
    "lapsed_offer_reward_id": "int?",
    "points_expire_days": "int",
    "cooldown_days": "int",
    "min_days": "int",
    "gap_multiplier": "decimal",
    "lapsed_multiplier": "decimal",
    "refund_lookback_days": "int",
    "attribution_days": "int",
}
_update = inspect.unwrap(winback_api.update_winback_campaign)


def _render(values=None, errors=None, status=200):
    session = db_session()
    campaign = session.scalar(select(WinbackCampaign).where(WinbackCampaign.shop_id == g.shop_id))
    current = winback_api._out(campaign)
    rewards = session.scalars(
        select(Reward).where(Reward.shop_id == g.shop_id, Reward.deleted_at.is_(None)).order_by(Reward.name)
    ).all()
    return render_template(
        "console/winback.html", values=values or current.model_dump(), last_run_at=current.last_run_at,
        rewards=rewards, errors=errors or [],
        descriptions={n: f.description for n, f in type(current).model_fields.items()},
    ), status


@bp.route("/winback", methods=["GET"])
@auth.require("winback.view")
def winback():
    return _render()


@bp.route("/winback", methods=["POST"])
@auth.require("winback.edit")
def save_winback():
    values = forms.read(request.form, FIELDS)
    for name in ("offer_reward_id", "lapsed_offer_reward_id"):
        value = values[name]
        if value is not None and not (isinstance(value, int) and 0 < value <= MAX_ID):
            return _render(values, [f"{name}: choose one of this shop's rewards"], 422)
    try:
        body = winback_api.WinbackCampaignUpdate.model_validate(values)
    except ValidationError as exc:
        return _render(values, forms.errors_of(
            ValidationFailed("invalid", details=validation_details(exc))), 422)
    g.staff = auth.current_staff()
    try:
        _update(body)  # validates, locks the shop row, audits and commits
    except (ValidationFailed, NotFound) as exc:
        db_session().rollback()
        return _render(values, forms.errors_of(exc), exc.status)
    flash("Win-back settings saved.", "success")
    return redirect(url_for("console.winback"))
