"""Who may do what in the console: each permission names the least role that has it.

Roles rank viewer < support < admin < owner (`app.models.staff.ROLES`); a role has every
permission of the roles below it. Pages add their permission here and check it with
`app.console.auth.require(permission)`.
"""

from __future__ import annotations

from app.models import ROLES, role_rank

PERMISSIONS: dict[str, str] = {
    "dashboard.view": "viewer",
    "customers.view": "viewer",
    "customers.adjust": "support",  # up to the support limit; admins and owners without one
    "adjustments.approve": "admin",
    "audit.view": "admin",
    "program.view": "viewer",
    "program.edit": "admin",
    "console_settings.edit": "owner",
    "rewards.view": "viewer",
    "rewards.edit": "admin",
    "tiers.view": "viewer",
    "tiers.edit": "admin",
    "deliveries.view": "admin",
    "deliveries.replay": "admin",
    "imports.run": "admin",
    "winback.view": "viewer",
    "winback.edit": "admin",
}


def allowed(role: str, permission: str) -> bool:
    """Whether `role` has `permission`. An unknown permission is nobody's (a typo must
    never open a page)."""
    minimum = PERMISSIONS.get(permission)
    if minimum is None or role not in ROLES:
        return False
    return role_rank(role) >= role_rank(minimum)
