"""The programme settings (how orders earn, what a point is worth), read by anyone on
staff and changed by admins. A change is validated as a whole and audited with the
settings before and after."""

from __future__ import annotations

from typing import Any

from flask import g
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.schemas import ProgramUpdate
from app.errors import NotFound, ValidationFailed
from app.loyalty.program import ProgramSettings, load_program, program_update
from app.models import Shop, StaffUser
from app.openapi import api_route, validation_details
from app.web import db_session

TAGS = ["program"]


def _shop(*, lock: bool = False) -> Shop:
    stmt = select(Shop).where(Shop.id == g.shop_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    shop = db_session().scalar(stmt)
    if shop is None:  # the token outlived its shop
        raise NotFound("shop not found")
    return shop


@api_route(
    bp,
    "/program",
    methods=["GET"],
    response=ProgramSettings,
    tags=TAGS,
    security="staffToken",
    summary="Earning and redemption settings",
    responses={401: "no or bad staff token"},
)
@require_staff("viewer")
def get_program() -> ProgramSettings:
    return load_program(_shop())


@api_route(
    bp,
    "/program",
    methods=["PUT"],
    body=ProgramUpdate,
    response=ProgramSettings,
    tags=TAGS,
    security="staffToken",
    summary="Change some or all settings; the rest keep their value (audited)",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        422: "an unknown setting, or a value out of range",
    },
)
@require_staff("admin")
def update_program(body) -> ProgramSettings:
    session = db_session()
    updated = apply_program_changes(
        session, _shop(lock=True), g.staff, body.model_dump(exclude_unset=True)
    )
    session.commit()
    return updated


def apply_program_changes(
    session: Session, shop: Shop, staff: StaffUser, changes: dict[str, Any]
) -> ProgramSettings:
    """Apply `changes` to the shop's settings, validated as a whole, and audit it; the
    caller commits. Lock the shop row first (`_shop(lock=True)`) so two admins saving at
    once apply one after the other instead of one silently undoing the other's change."""
    current = load_program(shop)
    try:
        updated = program_update(current, changes)
    except ValidationError as exc:
        raise ValidationFailed(
            "program settings are invalid", details=validation_details(exc)
        ) from None
    before, after = current.model_dump(mode="json"), updated.model_dump(mode="json")
    shop.program = after
    audit.record(
        session,
        shop_id=shop.id,
        staff=staff,
        action="program.update",
        target_type="program",
        target_id=shop.id,
        before=before,
        after=after,
    )
    return updated
