"""The audit log for admins: every staff change, newest first, filterable."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import keyset_page
from app.admin.schemas import AuditEventOut, AuditPage, AuditQuery
from app.models import AuditEvent
from app.openapi import api_route
from app.web import db_session


@api_route(
    bp,
    "/audit-log",
    methods=["GET"],
    query=AuditQuery,
    response=AuditPage,
    tags=["audit"],
    security="staffToken",
    summary="Audit events of this shop, newest first",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        422: "invalid query parameters or cursor",
    },
)
@require_staff("admin")
def list_audit_events(query: AuditQuery) -> AuditPage:
    stmt = select(AuditEvent).where(AuditEvent.shop_id == g.shop_id)
    if query.action is not None:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.target_type is not None:
        stmt = stmt.where(AuditEvent.target_type == query.target_type)
    if query.target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == query.target_id)
    rows, next_cursor = keyset_page(
        db_session(), stmt, AuditEvent.id, cursor=query.cursor, limit=query.limit
    )
    return AuditPage(data=[AuditEventOut.model_validate(e) for e in rows], next_cursor=next_cursor)
