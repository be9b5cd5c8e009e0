"""Adjustments waiting for approval: admins and the owner approve (posting the entry) or
reject them, once each."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.console import adjustments, auth, bp
from app.models import AdjustmentRequest, Customer
from app.web import db_session


@bp.route("/approvals", methods=["GET"])
@auth.require("adjustments.approve")
def approvals():
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected"):
        status = "pending"
    rows = db_session().execute(
        select(AdjustmentRequest, Customer)
        .join(Customer, Customer.id == AdjustmentRequest.customer_id)
        .where(AdjustmentRequest.shop_id == g.shop_id, AdjustmentRequest.status == status)
        .order_by(AdjustmentRequest.id.desc())
        .limit(100)
    ).all()
    return render_template(
        "console/approvals.html", rows=rows, status=status, reason_codes=adjustments.REASON_CODES
    )


@bp.route("/approvals/<int:request_id>/<any(approve, reject):decision>", methods=["POST"])
@auth.require("adjustments.approve")
def decide(request_id: int, decision: str):
    session = db_session()
    staff = auth.current_staff()
    note = request.form.get("note", "")
    try:
        if decision == "approve":
            entry = adjustments.approve(session, staff=staff, request_id=request_id, note=note)
            message = f"Approved request #{request_id}: {entry.points:+d} points posted."
        else:
            adjustments.reject(session, staff=staff, request_id=request_id, note=note)
            message = f"Rejected request #{request_id}."
    except (adjustments.Conflict, adjustments.ValidationFailed) as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.approvals"))
    session.commit()
    flash(message, "success")
    return redirect(url_for("console.approvals"))
