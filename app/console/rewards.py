"""The rewards page: list, create, edit, deactivate and activate. Every change goes through
the functions the JSON API uses (`app.admin.rewards`): validated for its kind as a whole,
audited."""

from __future__ import annotations

from typing import get_args

from flask import flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from app.admin import rewards as reward_api
from app.console import auth, bp, forms
from app.errors import ValidationFailed
from app.models import Reward
from app.openapi import validation_details
from app.web import db_session

FIELDS = {
    "name": "text",
    "kind": "text",
    "points_cost": "int",
    "value": "int",
    "min_points": "int?",
    "max_points": "int?",
    "min_order_minor": "int?",
    "code_valid_days": "int?",
    "tiers": "strlist",
    "combines_with_other_discounts": "bool",
    "active": "bool",
}
KINDS = get_args(reward_api.RewardKind)


def _form(reward=None, values=None, errors=None, status=200):
    return render_template(
        "console/reward_form.html", reward=reward, values=values or {}, errors=errors or [],
        kinds=KINDS, descriptions={n: f.description for n, f in reward_api.RewardFields.model_fields.items()},
    ), status


@bp.route("/rewards", methods=["GET"])
@auth.require("rewards.view")
def rewards():
    rows = db_session().scalars(
        select(Reward)
        .where(Reward.shop_id == g.shop_id, Reward.deleted_at.is_(None))
        .order_by(Reward.active.desc(), Reward.points_cost, Reward.id)
        .limit(500)
    ).all()
    return render_template("console/rewards.html", rewards=rows)


@bp.route("/rewards/new", methods=["GET", "POST"])
@auth.require("rewards.edit")
def new_reward():
    if request.method == "GET":
        return _form(values={"active": True, "kind": "fixed_amount", "value": 500, "points_cost": 500})
    values = forms.read(request.form, FIELDS)
    if values["value"] is None:
        values["value"] = 0
    session = db_session()
    try:
        body = reward_api.RewardIn.model_validate(values)
        reward = reward_api.add_reward(session, auth.current_staff(), body)
    except ValidationError as exc:
        session.rollback()
        return _form(values=values, errors=forms.errors_of(
            ValidationFailed("invalid", details=validation_details(exc))), status=422)
    session.commit()
    flash(f"Reward “{reward.name}” created.", "success")
    return redirect(url_for("console.rewards"))


@bp.route("/rewards/<int:reward_id>", methods=["GET", "POST"])
@auth.require("rewards.view")
def edit_reward(reward_id: int):
    reward = reward_api._reward(reward_id)
    if request.method == "GET":
        return _form(reward=reward, values={n: getattr(reward, n) for n in FIELDS})
    if not auth.can("rewards.edit"):
        return auth.forbidden()
    values = forms.read(request.form, FIELDS)
    if values["value"] is None:
        values["value"] = 0
    session = db_session()
    try:
        reward_api.change_reward(session, auth.current_staff(), reward, values)
    except ValidationFailed as exc:
        session.rollback()
        return _form(reward=reward_api._reward(reward_id), values=values, errors=forms.errors_of(exc), status=422)
    session.commit()
    flash(f"Reward “{reward.name}” saved.", "success")
    return redirect(url_for("console.rewards"))


@bp.route("/rewards/<int:reward_id>/<any(activate, deactivate):change>", methods=["POST"])
@auth.require("rewards.edit")
def toggle_reward(reward_id: int, change: str):
    session = db_session()
    reward = reward_api._reward(reward_id)
    try:
        reward_api.change_reward(session, auth.current_staff(), reward, {"active": change == "activate"})
    except ValidationFailed as exc:
        session.rollback()
        flash("; ".join(forms.errors_of(exc)), "error")
        return redirect(url_for("console.rewards"))
    session.commit()
    flash(f"Reward “{reward.name}” {'activated' if change == 'activate' else 'deactivated'}.", "success")
    return redirect(url_for("console.rewards"))
