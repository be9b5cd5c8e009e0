"""Operational jobs the worker runs on a schedule (see `app/jobs/cron.py`).

A plain `rq worker` runs these: job functions open their own session through
`app.runtime.get_db()`, which reads the settings from the environment on first use.
"""

from __future__ import annotations

import logging
from typing import Any

from app.loyalty.checks import find_violations
from app.loyalty.errors import LedgerViolation

log = logging.getLogger(__name__)


def audit_ledger(shop_id: int | None = None) -> dict[str, Any]:
    """The job form of `loyalty check-ledger`. A broken invariant fails the job (it raises),
    so it lands in RQ's failed registry and the worker log instead of passing unseen."""
    from app.runtime import get_db

    with get_db().session() as session:
        violations = find_violations(session, shop_id)
    for violation in violations:
        log.error("ledger invariant broken: %s", violation)
    if violations:
        raise LedgerViolation(f"{len(violations)} ledger violations, first: {violations[0]}")
    return {"violations": 0, "shop_id": shop_id}
