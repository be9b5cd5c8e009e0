"""The programme settings page (how orders earn, what a point is worth) and the console's
own setting, the support agents' adjustment limit. Saving goes through the same function
as the JSON API (`app.admin.program.apply_program_changes`): validated as a whole, the
shop row locked, audited."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from app.admin.program import _shop, apply_program_changes
from app.console import adjustments, auth, bp, forms
from app.errors import ValidationFailed
from app.loyalty.program import load_program
from app.web import db_session

FIELDS = {
    "points_per_unit": "decimal",
    "exclude_tax": "bool",
    "exclude_shipping": "bool",
    "signup_points": "int",
    "pending_days": "int",
    "return_points_on_refunded_reward": "bool",
    "return_points_on_code_expiry": "bool",
    "points_expire_months": "int?",
    "expiry_reminder_days": "intlist",
    "point_value_minor": "int",
    "birthday_points": "int",
    "referral_points": "int",
    "referral_monthly_limit": "int?",
    "referral_welcome_reward_id": "int?",
}
MAIL_KINDS = ("points_earned", "reward_affordable", "tier_reached", "points_expiring", "referral_reward")


def _render(errors: list[str] | None = None, status: int = 200):
    program = load_program(_shop())
    return render_template(
        "console/program.html", program=program, fields=FIELDS, mail_kinds=MAIL_KINDS,
        descriptions={n: f.description for n, f in type(program).model_fields.items()},
        errors=errors or [],
        support_limit=adjustments.support_limit(db_session(), g.shop_id),
    ), status


@bp.route("/program", methods=["GET"])
@auth.require("program.view")
def program():
    return _render()


@bp.route("/program", methods=["POST"])
@auth.require("program.edit")
def save_program():
    session = db_session()
    changes = forms.read(request.form, FIELDS)
    changes["lifecycle_mail"] = {kind: request.form.get(f"mail_{kind}") == "on" for kind in MAIL_KINDS}
    try:
        apply_program_changes(session, _shop(lock=True), auth.current_staff(), changes)
    except ValidationFailed as exc:
        session.rollback()
        return _render(forms.errors_of(exc), 422)
    session.commit()
    flash("Programme settings saved.", "success")
    return redirect(url_for("console.program"))


@bp.route("/program/console", methods=["POST"])
@auth.require("console_settings.edit")
def save_console_settings():
    session = db_session()
    value = forms.int_or_text(request.form.get("support_adjustment_limit", ""))
    try:
        if not isinstance(value, int):
            raise ValidationFailed("the support limit is a whole number of points")
        adjustments.set_support_limit(session, shop_id=g.shop_id, staff=auth.current_staff(), limit=value)
    except ValidationFailed as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.program"))
    session.commit()
    flash(f"Support agents now adjust up to {value} points without approval.", "success")
    return redirect(url_for("console.program"))
