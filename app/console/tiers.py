"""The tiers page: list, create, edit and switch off, through the functions the JSON API
uses (`app.admin.tiers`): validated, audited, and a recalculation of the shop's shoppers
queued after commit."""

from __future__ import annotations

from typing import get_args

from flask import flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from app.admin import tiers as tier_api
from app.console import auth, bp, forms
from app.errors import Conflict, ValidationFailed
from app.models import Tier
from app.openapi import validation_details
from app.web import db_session

FIELDS = {
    "name": "text",
    "threshold_kind": "text",
    "threshold_value": "int",
    "window": "text",
    "retention_days": "int",
    "earn_multiplier": "decimal",
    "entry_bonus_points": "int",
    "rank": "int",
    "active": "bool",
}


def _form(tier=None, values=None, errors=None, status=200):
    return render_template(
        "console/tier_form.html", tier=tier, values=values or {}, errors=errors or [],
        threshold_kinds=get_args(tier_api.ThresholdKind), windows=get_args(tier_api.Window),
        descriptions={n: f.description for n, f in tier_api.TierIn.model_fields.items()},
    ), status


@bp.route("/tiers", methods=["GET"])
@auth.require("tiers.view")
def tiers():
    rows = db_session().scalars(
        select(Tier).where(Tier.shop_id == g.shop_id).order_by(Tier.active.desc(), Tier.rank, Tier.id)
    ).all()
    return render_template("console/tiers.html", tiers=rows)


@bp.route("/tiers/new", methods=["GET", "POST"])
@auth.require("tiers.edit")
def new_tier():
    if request.method == "GET":
        return _form(values={"active": True, "threshold_kind": "points_earned", "window": "lifetime",
                             "retention_days": 365, "earn_multiplier": "1", "entry_bonus_points": 0})
    values = {"key": request.form.get("key", "").strip(), **forms.read(request.form, FIELDS)}
    session = db_session()
    try:
        body = tier_api.TierIn.model_validate(values)
        tier = tier_api.add_tier(session, auth.current_staff(), body)
    except ValidationError as exc:
        session.rollback()
        return _form(values=values, errors=forms.errors_of(
            ValidationFailed("invalid", details=validation_details(exc))), status=422)
    except Conflict as exc:
        session.rollback()
        return _form(values=values, errors=[exc.message], status=409)
    session.commit()
    flash(f"Tier “{tier.name}” created; shoppers are being recalculated.", "success")
    return redirect(url_for("console.tiers"))


@bp.route("/tiers/<int:tier_id>", methods=["GET", "POST"])
@auth.require("tiers.view")
def edit_tier(tier_id: int):
    tier = tier_api._tier(tier_id)
    if request.method == "GET":
        values = {n: getattr(tier, n) for n in FIELDS}
        values["earn_multiplier"] = tier_api._out(tier).earn_multiplier
        return _form(tier=tier, values=values)
    if not auth.can("tiers.edit"):
        return auth.forbidden()
    values = forms.read(request.form, FIELDS)
    session = db_session()
    try:
        tier_api.change_tier(session, auth.current_staff(), tier, values)
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        return _form(tier=tier_api._tier(tier_id), values=values, errors=forms.errors_of(exc),
                     status=exc.status)
    session.commit()
    flash(f"Tier “{tier.name}” saved; shoppers are being recalculated.", "success")
    return redirect(url_for("console.tiers"))


@bp.route("/tiers/<int:tier_id>/switch-off", methods=["POST"])
@auth.require("tiers.edit")
def switch_off_tier(tier_id: int):
    session = db_session()
    tier = tier_api._tier(tier_id)
    tier_api.switch_off_tier(session, auth.current_staff(), tier)
    session.commit()
    flash(f"Tier “{tier.name}” switched off; its members move at the recalculation.", "success")
    return redirect(url_for("console.tiers"))
