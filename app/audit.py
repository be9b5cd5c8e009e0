"""The audit trail: who changed what, with the state before and after.

Call `record` in the same transaction as the change it describes, so the trail can never
claim a change that was rolled back nor miss one that was committed. It only adds the row;
the caller commits. Outside a request (jobs, CLI) the actor is "system" unless a staff
user is given, and there is no request id.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context
from sqlalchemy.orm import Session

from app.models import AuditEvent, StaffUser

SYSTEM_ACTOR = "system"


def _request_id() -> str | None:
    if not has_app_context():
        return None
    value = g.get("request_id")
    return str(value)[:64] if value else None


def record(
    session: Session,
    *,
    shop_id: int,
    staff: StaffUser | None = None,
    action: str,
    target_type: str,
    target_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Add one audit event. `before`/`after` must be JSON-ready (dump models with
    `mode="json"`); `actor` overrides the staff email, e.g. "webhook" or "cli"."""
    event = AuditEvent(
        shop_id=shop_id,
        staff_user_id=staff.id if staff is not None else None,
        actor=(actor or (staff.email if staff is not None else SYSTEM_ACTOR))[:320],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:64],
        before=before,
        after=after,
        reason=reason,
        request_id=_request_id(),
    )
    session.add(event)
    session.flush()
    return event
