"""Manual point adjustments from the console: post, ask for approval, approve or reject,
and undo.

* An adjustment has a reason code from `REASON_CODES` and a note. It is an `adjust`
  ledger entry (reason "<code>: <note>", the staff user recorded) plus an audit event, in
  one transaction, with the customer row locked first.
* Support agents post up to the shop's `support_adjustment_limit` points (either sign);
  beyond it the adjustment becomes a pending `AdjustmentRequest`, which an admin or the
  owner approves (posting it) or rejects, once.
* Undo posts a compensating entry (`reverses_entry_id` = the original) under the key
  `console-undo:<entry id>`. The ledger's unique key per shop makes a second undo of the
  same entry impossible, even when two people click at once; nothing is ever deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.console.permissions import allowed
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.loyalty import ledger
from app.loyalty.customers import lock_customer
from app.models import AdjustmentRequest, ConsoleSettings, Customer, LedgerEntry, StaffUser, utcnow
from app.models.console import DEFAULT_SUPPORT_ADJUSTMENT_LIMIT

REASON_CODES: dict[str, str] = {
    "goodwill": "Goodwill gesture",
    "service_recovery": "Service recovery (complaint)",
    "missing_order_points": "Points missing for an order",
    "duplicate_points": "Points given twice",
    "correction": "Correction of a staff error",
    "promotion": "Promotion or contest prize",
    "fraud": "Fraud or abuse",
    "other": "Other (explain in the note)",
}
MAX_ADJUSTMENT = 1_000_000
MAX_NOTE = 500
MAX_SUPPORT_LIMIT = 1_000_000
UNDO_KEY = "console-undo:"
FORM_KEY = "console-adjust:"
APPROVAL_KEY = "console-approval:"
_FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class Outcome:
    """What an adjustment did: posted an entry, or asked for approval."""

    entry: LedgerEntry | None = None
    request: AdjustmentRequest | None = None
    replayed: bool = False


def support_limit(session: Session, shop_id: int) -> int:
    value = session.scalar(
        select(ConsoleSettings.support_adjustment_limit).where(ConsoleSettings.shop_id == shop_id)
    )
    return DEFAULT_SUPPORT_ADJUSTMENT_LIMIT if value is None else int(value)


def set_support_limit(session: Session, *, shop_id: int, staff: StaffUser, limit: int) -> None:
    if not 0 <= limit <= MAX_SUPPORT_LIMIT:
        raise ValidationFailed(f"the support limit is 0 to {MAX_SUPPORT_LIMIT} points")
    row = session.get(ConsoleSettings, shop_id, with_for_update=True)
    before = DEFAULT_SUPPORT_ADJUSTMENT_LIMIT if row is None else row.support_adjustment_limit
    if row is None:
        row = ConsoleSettings(shop_id=shop_id, support_adjustment_limit=limit)
        session.add(row)
    row.support_adjustment_limit = limit
    session.flush()
    audit.record(
        session, shop_id=shop_id, staff=staff, action="console_settings.update",
        target_type="console_settings", target_id=shop_id,
        before={"support_adjustment_limit": before}, after={"support_adjustment_limit": limit},
    )


def validate(points: int, reason_code: str, note: str) -> str:
    """The cleaned note; ValidationFailed with a message a person can act on."""
    if points == 0 or not -MAX_ADJUSTMENT <= points <= MAX_ADJUSTMENT:
        raise ValidationFailed(f"points must be a whole number from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}, not 0")
    if reason_code not in REASON_CODES:
        raise ValidationFailed("choose a reason from the list")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"the note has at most {MAX_NOTE} characters")
    if reason_code == "other" and not note:
        raise ValidationFailed("explain the reason in the note when it is 'Other'")
    if any(ord(c) < 32 and c not in "\n\t" for c in note):
        raise ValidationFailed("the note holds control characters")
    return note


def ledger_reason(reason_code: str, note: str) -> str:
    return f"{reason_code}: {note}" if note else reason_code


def needs_approval(session: Session, staff: StaffUser, points: int) -> bool:
    if allowed(staff.role, "adjustments.approve"):
        return False
    return abs(points) > support_limit(session, staff.shop_id)


def _post(
    session: Session, *, customer: Customer, staff: StaffUser, points: int, reason_code: str,
    note: str, key: str, action: str, extra: dict | None = None,
) -> tuple[LedgerEntry, bool]:
    existing = ledger.find_by_key(session, customer.shop_id, key)
    if existing is not None:
        return existing, True
    before = customer.points_balance
    entry = ledger.post(
        session, shop_id=customer.shop_id, customer_id=customer.id, points=points, kind="adjust",
        idempotency_key=key, reason=ledger_reason(reason_code, note), staff_user_id=staff.id,
        reverses_entry_id=(extra or {}).get("reverses_entry_id"),
    )
    audit.record(
        session, shop_id=customer.shop_id, staff=staff, action=action, target_type="customer",
        target_id=customer.id, before={"points_balance": before},
        after={"points_balance": entry.balance_after, "entry_id": entry.id, "points": points,
               "reason_code": reason_code, **(extra or {})},
        reason=ledger_reason(reason_code, note),
    )
    return entry, False


def adjust(
    session: Session, *, staff: StaffUser, customer_id: int, points: int, reason_code: str,
    note: str, form_key: str,
) -> Outcome:
    """Post the adjustment, or file it for approval when it is beyond the support limit.
    `form_key` (one per rendered form) makes a double-submitted form post once. The caller
    commits."""
    if not allowed(staff.role, "customers.adjust"):
        raise Forbidden(f"your role ({staff.role}) cannot adjust points")
    note = validate(points, reason_code, note)
    if not _FORM_KEY.match(form_key or ""):
        raise ValidationFailed("the form is incomplete; reload the page and try again")
    customer = lock_customer(session, staff.shop_id, customer_id)
    if needs_approval(session, staff, points):
        existing = session.scalar(
            select(AdjustmentRequest).where(
                AdjustmentRequest.shop_id == staff.shop_id,
                AdjustmentRequest.customer_id == customer.id,
                AdjustmentRequest.requested_by_staff_id == staff.id,
                AdjustmentRequest.note == note,
                AdjustmentRequest.points == points,
                AdjustmentRequest.status == "pending",
            )
        )
        if existing is not None:
            return Outcome(request=existing, replayed=True)
        request = AdjustmentRequest(
            shop_id=staff.shop_id, customer_id=customer.id, points=points, reason_code=reason_code,
            note=note, status="pending", requested_by_staff_id=staff.id, requested_by=staff.email,
        )
        session.add(request)
        session.flush()
        audit.record(
            session, shop_id=staff.shop_id, staff=staff, action="adjustment.request",
            target_type="customer", target_id=customer.id,
            after={"request_id": request.id, "points": points, "reason_code": reason_code,
                   "limit": support_limit(session, staff.shop_id)},
            reason=ledger_reason(reason_code, note),
        )
        return Outcome(request=request)
    entry, replayed = _post(
        session, customer=customer, staff=staff, points=points, reason_code=reason_code,
        note=note, key=FORM_KEY + form_key, action="customer.adjust",
    )
    return Outcome(entry=entry, replayed=replayed)


def _pending_request(session: Session, shop_id: int, request_id: int) -> AdjustmentRequest:
    request = session.scalar(
        select(AdjustmentRequest)
        .where(AdjustmentRequest.id == request_id, AdjustmentRequest.shop_id == shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is None:
        raise NotFound(f"approval request {request_id} not found")
    if request.status != "pending":
        raise Conflict(f"this request was already {request.status} by {request.decided_by}")
    return request


def approve(session: Session, *, staff: StaffUser, request_id: int, note: str = "") -> LedgerEntry:
    """Post a pending request's adjustment, once. The caller commits."""
    if not allowed(staff.role, "adjustments.approve"):
        raise Forbidden(f"your role ({staff.role}) cannot approve adjustments")
    request = _pending_request(session, staff.shop_id, request_id)
    customer = lock_customer(session, staff.shop_id, request.customer_id)
    entry, _ = _post(
        session, customer=customer, staff=staff, points=request.points,
        reason_code=request.reason_code, note=request.note, key=APPROVAL_KEY + str(request.id),
        action="customer.adjust",
        extra={"request_id": request.id, "requested_by": request.requested_by},
    )
    _decide(session, request, staff, "approved", note, entry_id=entry.id)
    return entry


def reject(session: Session, *, staff: StaffUser, request_id: int, note: str = "") -> None:
    if not allowed(staff.role, "adjustments.approve"):
        raise Forbidden(f"your role ({staff.role}) cannot reject adjustments")
    request = _pending_request(session, staff.shop_id, request_id)
    _decide(session, request, staff, "rejected", note, entry_id=None)


def _decide(
    session: Session, request: AdjustmentRequest, staff: StaffUser, status: str, note: str,
    *, entry_id: int | None,
) -> None:
    note = note.strip()[:MAX_NOTE]
    request.status = status
    request.decided_by_staff_id = staff.id
    request.decided_by = staff.email
    request.decided_at = utcnow()
    request.decision_note = note or None
    request.entry_id = entry_id
    session.flush()
    audit.record(
        session, shop_id=request.shop_id, staff=staff, action="adjustment.approve" if status == "approved" else "adjustment.reject",
        target_type="customer", target_id=request.customer_id,
        before={"status": "pending"},
        after={"status": status, "request_id": request.id, "entry_id": entry_id,
               "points": request.points, "requested_by": request.requested_by},
        reason=note or None,
    )


def undoable(entry: LedgerEntry) -> bool:
    """A posted staff adjustment that is not itself an undo."""
    return (
        entry.kind == "adjust" and entry.status == "posted" and entry.staff_user_id is not None
        and entry.reverses_entry_id is None
    )


def undone_ids(session: Session, shop_id: int, entry_ids: list[int]) -> set[int]:
    if not entry_ids:
        return set()
    return set(
        session.scalars(
            select(LedgerEntry.reverses_entry_id).where(
                LedgerEntry.shop_id == shop_id,
                LedgerEntry.idempotency_key.in_([UNDO_KEY + str(i) for i in entry_ids]),
            )
        )
    )


def undo(session: Session, *, staff: StaffUser, entry_id: int) -> LedgerEntry:
    """Post the compensating entry of a staff adjustment. A second undo of the same entry
    raises Conflict. The caller commits."""
    if not allowed(staff.role, "customers.adjust"):
        raise Forbidden(f"your role ({staff.role}) cannot undo adjustments")
    original = session.scalar(
        select(LedgerEntry).where(LedgerEntry.id == entry_id, LedgerEntry.shop_id == staff.shop_id)
    )
    if original is None:
        raise NotFound(f"ledger entry {entry_id} not found")
    if not undoable(original):
        raise Conflict("only a staff adjustment that is not itself an undo can be undone")
    if needs_approval(session, staff, original.points):
        raise Forbidden("undoing an adjustment beyond your limit needs an admin")
    customer = lock_customer(session, staff.shop_id, original.customer_id)
    if ledger.find_by_key(session, staff.shop_id, UNDO_KEY + str(original.id)) is not None:
        raise Conflict("this adjustment was already undone")
    code = (original.reason or "correction").split(":", 1)[0]
    entry, replayed = _post(
        session, customer=customer, staff=staff, points=-original.points,
        reason_code=code if code in REASON_CODES else "correction",
        note=f"undo of entry {original.id}", key=UNDO_KEY + str(original.id),
        action="customer.adjust_undo", extra={"reverses_entry_id": original.id},
    )
    if replayed:
        raise Conflict("this adjustment was already undone")
    return entry
