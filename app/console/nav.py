"""The console's navigation: pages in menu order, each shown to roles that may open it.
An entry whose endpoint does not exist in this app is left out."""

from __future__ import annotations

from flask import current_app, url_for

from app.console.auth import can

NAV: list[tuple[str, str, str]] = [
    # (endpoint, label, permission)
    ("console.dashboard", "Dashboard", "dashboard.view"),
    ("console.customers", "Customers", "customers.view"),
    ("console.approvals", "Approvals", "adjustments.approve"),
    ("console.rewards", "Rewards", "rewards.view"),
    ("console.tiers", "Tiers", "tiers.view"),
    ("console.program", "Programme", "program.view"),
    ("console.winback", "Win-back", "winback.view"),
    ("console.deliveries", "Failed deliveries", "deliveries.view"),
    ("console.imports", "Import / export", "imports.run"),
    ("console.audit", "Audit log", "audit.view"),
]


def visible_nav() -> list[dict[str, str]]:
    views = current_app.view_functions
    return [
        {"endpoint": endpoint, "label": label, "url": url_for(endpoint)}
        for endpoint, label, permission in NAV
        if endpoint in views and can(permission)
    ]
