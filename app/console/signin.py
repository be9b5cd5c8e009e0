"""Signing in with email and password, signing out, and the console's front door.

Sign-in attempts are rate limited per client IP and per email (Flask-Limiter, on Redis
when REDIS_URL is set): whoever guesses passwords is slowed down whether they try many
emails from one address or one email from many addresses. A wrong email and a wrong
password get the same answer and cost the same time.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from limits import RateLimitItem, parse

from app import audit
from app.console import auth, bp
from app.web import db_session

log = logging.getLogger(__name__)

DEFAULT_IP_LIMIT = "30/15 minutes"
DEFAULT_EMAIL_LIMIT = "10/15 minutes"


def init_limits(app: Flask) -> None:
    settings = app.extensions["settings"]
    limits = {}
    for name, key, default in (
        ("ip", "CONSOLE_SIGNIN_IP_LIMIT", DEFAULT_IP_LIMIT),
        ("email", "CONSOLE_SIGNIN_EMAIL_LIMIT", DEFAULT_EMAIL_LIMIT),
    ):
        raw = app.config.get(key) or settings.extra.get(key.lower()) or default
        try:
            limits[name] = parse(raw)
        except ValueError:
            raise ValueError(f"{key} must be a rate limit such as '10/15 minutes', got {raw!r}") from None
    app.extensions["console_signin_limits"] = limits


def _allowed(item: RateLimitItem, *key: str) -> tuple[bool, int]:
    """(allowed, seconds until the window resets). Storage trouble lets the attempt through:
    the password check still stands."""
    limiter = current_app.extensions["console_limiter"]
    try:
        if limiter.limiter.hit(item, *key):
            return True, 0
        reset = limiter.limiter.get_window_stats(item, *key).reset_time
        return False, max(int(reset - time.time()), 1)
    except Exception as exc:
        log.warning("console rate limit storage unavailable: %s", exc.__class__.__name__)
        return True, 0


def _client_ip() -> str:
    return request.remote_addr or "unknown"


@bp.route("/", methods=["GET"])
@auth.require("customers.view")
def home():
    if "console.dashboard" in current_app.view_functions:
        return redirect(url_for("console.dashboard"))
    return redirect(url_for("console.customers"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_url = auth.safe_next(request.values.get("next"))
    if request.method == "GET":
        if auth.current_staff() is not None:
            return redirect(next_url or url_for("console.home"))
        return render_template(
            "console/sign_in.html", next=next_url, expired=request.args.get("expired") == "1"
        )
    email = request.form.get("email", "").strip().lower()[:320]
    password = request.form.get("password", "")
    shop = request.form.get("shop", "").strip()[:255] or None
    limits = current_app.extensions["console_signin_limits"]
    for item, key in ((limits["ip"], ("ip", _client_ip())), (limits["email"], ("email", email))):
        ok, retry_after = _allowed(item, "console-signin", *key)
        if not ok:
            response = render_template(
                "console/sign_in.html", next=next_url, email=email,
                error=f"Too many sign-in attempts. Try again in {retry_after} seconds.",
            )
            return response, 429, {"Retry-After": str(retry_after)}
    db = db_session()
    result = auth.check_credentials(db, email=email, password=password, shop_domain=shop)
    if result.ambiguous:
        return render_template(
            "console/sign_in.html", next=next_url, email=email, ask_shop=True, shop=shop,
            error="This email is on the staff of several shops. Enter the shop's domain.",
        ), 200
    if result.staff is None:
        db.rollback()
        return render_template(
            "console/sign_in.html", next=next_url, email=email, ask_shop=bool(shop), shop=shop,
            error="Email or password is not right.",
        ), 401
    auth.start_session(db, result.staff, method="password")
    audit.record(
        db, shop_id=result.staff.shop_id, staff=result.staff, action="console.sign_in",
        target_type="staff_user", target_id=result.staff.id, after={"method": "password"},
    )
    db.commit()
    return redirect(next_url or url_for("console.home"))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    auth.end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("console.sign_in"))
