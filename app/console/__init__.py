"""The admin console: server-rendered pages for merchants and support staff at /admin.

One blueprint, `console`, with its Jinja templates in `templates/console/` (every page
extends `console/base.html`: blocks `title` and `content`) and its own static files at
/admin/static. Page modules attach views to `bp` and guard each with
`app.console.auth.require(permission)`; the signed-in user is `auth.current_staff()` and
the shop `g.shop_id`. Every POST carries the CSRF token (`{{ csrf_field() }}` in a form),
every response a strict Content-Security-Policy. The JSON API at /admin/api/v1 is a
separate blueprint and keeps its bearer tokens.
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from app.console import auth
from app.console.formatting import money
from app.console.nav import visible_nav
from app.errors import AppError

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
bp.add_app_template_global(money, "money")

PAGE_MODULES = (
    "app.console.signin",
    "app.console.embedded",
    "app.console.customers",
    "app.console.approvals",
    "app.console.audit",
    "app.console.program",
    "app.console.rewards",
    "app.console.tiers",
    "app.console.deliveries",
    "app.console.winback",
    "app.console.dashboard",
    "app.console.imports",
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors https://admin.shopify.com https://*.myshopify.com"
)
csrf = CSRFProtect()


@bp.app_template_global("csrf_field")
def csrf_field() -> Markup:
    """The hidden input every console form posts."""
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">')


@bp.before_request
def _before():
    # No text column takes a NUL character; refuse it before it reaches a query.
    for values in (request.args, request.form):
        if any("\x00" in key or "\x00" in value for key, value in values.items(multi=True)):
            return _error_page(400, "Not possible", "The request holds a NUL character.")
    auth.load_session()
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _console_context():
    if request.blueprint != "console":
        return {}
    return {"staff": auth.current_staff(), "can": auth.can, "nav": visible_nav()}


def _error_page(status: int, title: str, message: str):
    return render_template("console/error.html", status=status, title=title, message=message), status


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    return _error_page(400, "Form expired", "The form was missing its security token or it "
                       "expired. Go back, reload the page and try again.")


@bp.errorhandler(AppError)
def _app_error(exc: AppError):
    return _error_page(exc.status, "Not possible", exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _error_page(exc.code or 500, exc.name or "Error", exc.description or "")


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except that a console session begun inside Shopify's admin
    (an iframe on another site) is sent with SameSite=None, which browsers require of a
    cookie in a cross-site frame, and only over HTTPS (Secure)."""

    def get_cookie_samesite(self, app: Flask):
        from flask import session

        if session.get("console_embedded") and self.get_cookie_secure(app):
            return "None"
        return super().get_cookie_samesite(app)


def init_app(app: Flask) -> None:
    from app.console.signin import init_limits

    settings = app.extensions["settings"]
    app.config["SESSION_COOKIE_SECURE"] = settings.is_production or settings.app_url.startswith(
        "https://"
    )
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Forms are checked only where a view asks (the console); the token lives as long as
    # the console session, which has its own idle and absolute limits.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=app.config.get("CONSOLE_RATE_LIMIT_STORAGE")
        or settings.extra.get("console_rate_limit_storage")
        or settings.redis_url
        or "memory://",
        strategy="fixed-window",
        key_prefix="loyalty-console",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    app.extensions["console_limiter"] = limiter
    init_limits(app)
    for name in PAGE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
    app.register_blueprint(bp)

