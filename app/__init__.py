"""Loyalty Loop: the Flask application factory. Each subsystem wires itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the domain imports `app.*` without loading Flask
    from flask import Flask

    from app.config import Settings
    from app.db import Database


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> Flask:
    from flask import Flask

    from app import errors_http, ops, web
    from app.config import Settings
    from app.logging_setup import configure_logging
    from app.runtime import init_runtime

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=max(settings.webhook_max_bytes, 1024 * 1024),
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["settings"] = settings
    app.extensions["db"] = init_runtime(settings, db)

    web.init_app(app)
    errors_http.init_app(app)
    ops.init_app(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Optional parts register themselves here as they exist."""
    import importlib

    for module_name in (
        "app.admin.api",
        "webhooks.receivers",
        "widgets.storefront",
        "widgets.checkout",
        "widgets.web",
        "app.mail.routes",
        "app.install",
        "app.console",
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.init_app(app)
