"""The audit log page: every change, newest first, filtered by staff, action, date range
and customer."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import g, render_template, request
from sqlalchemy import select

from app.admin.pagination import MAX_ID
from app.console import auth, bp
from app.models import AuditEvent, StaffUser
from app.web import db_session

PAGE = 100


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _id(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


@bp.route("/audit", methods=["GET"])
@auth.require("audit.view")
def audit():
    session = db_session()
    stmt = select(AuditEvent).where(AuditEvent.shop_id == g.shop_id)
    staff_id, customer_id, before = _id("staff"), _id("customer"), _id("before")
    action = request.args.get("action", "").strip()[:64]
    start, end = _date("from"), _date("to")
    if staff_id:
        stmt = stmt.where(AuditEvent.staff_user_id == staff_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if customer_id:
        stmt = stmt.where(AuditEvent.target_type == "customer", AuditEvent.target_id == str(customer_id))
    if start:
        stmt = stmt.where(AuditEvent.created_at >= datetime.combine(start, time.min, UTC))
    if end:
        stmt = stmt.where(AuditEvent.created_at < datetime.combine(end + timedelta(days=1), time.min, UTC))
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    events = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(PAGE + 1)))
    more = len(events) > PAGE
    events = events[:PAGE]
    staff_members = session.scalars(
        select(StaffUser).where(StaffUser.shop_id == g.shop_id).order_by(StaffUser.email)
    ).all()
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.shop_id == g.shop_id).distinct().order_by(AuditEvent.action)
    ).all()
    filters = {
        "staff": staff_id or "", "action": action, "customer": customer_id or "",
        "from": start.isoformat() if start else "", "to": end.isoformat() if end else "",
    }
    return render_template(
        "console/audit.html", events=events, staff_members=staff_members, actions=actions,
        filters=filters, next_before=events[-1].id if more else None,
    )
