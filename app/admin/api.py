"""The admin JSON API under /admin/api/v1. Route modules attach to `bp`; each view sits
behind `require_staff`, which scopes it to the token's shop."""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api/v1")

ROUTE_MODULES = (
    "app.admin.customers",
    "app.admin.audit",
    "app.admin.program",
    "app.admin.deliveries",
    "app.admin.orders",
    "app.admin.rewards",
    "app.admin.redemptions",
    "app.admin.tiers",
    "app.admin.expiry",
    "app.admin.earning",
    "app.admin.mail",
    "app.admin.winback",
    "app.admin.analytics",
    "app.admin.imports",
)


def init_app(app: Flask) -> None:
    for name in ROUTE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
    app.register_blueprint(bp)
