"""Custom actions: points for things a shopper does outside the store (a review, following
the shop on Instagram), recorded by staff or an integration through the admin API.

The programme lists the actions (`ProgramSettings.actions`: key → points and a limit per
shopper, ever). Each completion is one `earn_action` ledger entry with the key
`action:{key}:{customer_id}:{n}` — or `action:{key}:{customer_id}:ref:{reference}` when
the caller names the thing done (a review id), so the same review recorded twice earns
once. The customer's row lock serialises completions, so the limit holds under
concurrent requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import ValidationFailed
from app.loyalty import ledger
from app.loyalty.errors import CustomerNotFound
from app.loyalty.program import load_program
from app.models import Customer, LedgerEntry, Shop, utcnow

_REFERENCE = re.compile(r"^[\x21-\x7e]{1,80}$")


class UnknownAction(ValidationFailed):
    code = "unknown_action"


class ActionLimitReached(ValidationFailed):
    code = "action_limit_reached"


@dataclass(frozen=True)
class ActionResult:
    entry: LedgerEntry
    created: bool  # False: this reference was recorded before (nothing new posted)
    completions: int  # rewarded completions of this action for the shopper, after this call
    limit: int | None


def key_prefix(action: str, customer_id: int) -> str:
    return f"action:{action}:{customer_id}:"


def record_action(
    session: Session, shop: Shop, customer_id: int, action: str, *,
    reference: str | None = None, staff_user_id: int | None = None, now: datetime | None = None,
) -> ActionResult:
    """Reward one completion of `action`; raises `UnknownAction` or `ActionLimitReached`."""
    now = now or utcnow()
    setting = load_program(shop).actions.get(action)
    if setting is None:
        raise UnknownAction(f"the programme has no action {action!r}", details={"action": action})
    if reference is not None and not _REFERENCE.match(reference):
        raise ValidationFailed("reference must be 1 to 80 printable characters without spaces",
                               code="invalid_reference")
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop.id).with_for_update()
    )
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    prefix = key_prefix(action, customer.id)
    if reference is not None:
        existing = ledger.find_by_key(session, shop.id, f"{prefix}ref:{reference}")
        if existing is not None:
            return ActionResult(existing, False, completions(session, shop.id, action, customer.id), setting.limit)
    done = completions(session, shop.id, action, customer.id)
    if setting.limit is not None and done >= setting.limit:
        raise ActionLimitReached(
            f"{action!r} is rewarded at most {setting.limit} time(s) per shopper",
            details={"action": action, "limit": setting.limit, "completions": done},
        )
    key = f"{prefix}ref:{reference}" if reference is not None else f"{prefix}{done + 1}"
    entry = ledger.post(
        session, shop_id=shop.id, customer_id=customer.id, points=setting.points, kind="earn_action",
        idempotency_key=key, reason=f"action: {setting.name or action}"[:200],
        staff_user_id=staff_user_id, now=now,
    )
    return ActionResult(entry, True, done + 1, setting.limit)


def completions(session: Session, shop_id: int, action: str, customer_id: int) -> int:
    """Rewarded completions of `action` by the customer (their `earn_action` entries)."""
    prefix = key_prefix(action, customer_id)
    return int(session.scalar(
        select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.shop_id == shop_id,
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.kind == "earn_action",
            LedgerEntry.idempotency_key.startswith(prefix, autoescape=True),
        )
    ) or 0)
