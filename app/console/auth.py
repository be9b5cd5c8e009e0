"""Console sign-in, sessions and the permission decorator.

A session is a `ConsoleSession` row plus a random token kept in Flask's signed session
cookie (HttpOnly, SameSite=Lax, Secure unless APP_URL is plain-http development). Only
the token's SHA-256 is stored. Every console request loads the row, checks the idle and
absolute limits, and sets `g.console_staff` and `g.shop_id`; every query of a console view
is scoped by `g.shop_id`. Signing out ends the row, so a copied cookie dies with it, and
changing a password or deactivating a user ends their sessions on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.console.permissions import allowed
from app.models import ConsoleSession, Shop, StaffUser, utcnow
from app.web import db_session

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen_at is written at most this often, so reading pages costs no write each time.
TOUCH_EVERY = timedelta(seconds=60)
SESSION_KEY = "console_sid"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
_dummy_hashes: dict[tuple, str] = {}


def _dummy_hash() -> str:
    """Verified when the email is unknown, so a wrong email costs as long as a wrong
    password. Made on first use (hashing costs time), once per hasher configuration."""
    key = (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


class PasswordRejected(ValueError):
    """A new password that does not meet the rules."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def set_password(session: Session, staff: StaffUser, password: str) -> None:
    """Set a staff user's password and end their console sessions. The caller commits."""
    staff.password_hash = hash_password(password)
    end_sessions(session, staff.id)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignInResult:
    staff: StaffUser | None
    ambiguous: bool = False


def check_credentials(
    session: Session, *, email: str, password: str, shop_domain: str | None = None
) -> SignInResult:
    """The active staff user these credentials belong to. An email may be on staff of
    several shops: when the password fits more than one, the shop domain decides."""
    email = email.strip().lower()
    if not email or len(email) > 320 or len(password) > MAX_PASSWORD_LENGTH:
        _verify(None, password[:MAX_PASSWORD_LENGTH])
        return SignInResult(None)
    stmt = (
        select(StaffUser)
        .join(Shop, Shop.id == StaffUser.shop_id)
        .where(StaffUser.email == email, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
        .limit(20)
    )
    if shop_domain:
        stmt = stmt.where(Shop.domain == shop_domain.strip().lower())
    candidates = list(session.scalars(stmt))
    if not candidates:
        _verify(None, password)
        return SignInResult(None)
    matches = [staff for staff in candidates if _verify(staff.password_hash, password)]
    if len(matches) > 1:
        return SignInResult(None, ambiguous=True)
    if not matches:
        return SignInResult(None)
    staff = matches[0]
    if _hasher.check_needs_rehash(staff.password_hash or ""):
        staff.password_hash = _hasher.hash(password)
    return SignInResult(staff)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _password_mark(staff: StaffUser) -> str:
    """Changes whenever the password does; a session remembers the mark it began with."""
    return hashlib.sha256((staff.password_hash or "").encode("utf-8")).hexdigest()[:16]


def start_session(session: Session, staff: StaffUser, *, method: str) -> None:
    """Sign `staff` in: a fresh session row and cookie (never reusing the old cookie's
    values, so a planted session id or CSRF token is worthless). The caller commits."""
    old = session_token()
    if old:
        _end(session, old)
    session_cookie_clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ConsoleSession(
            token_hash=_hash_token(token), shop_id=staff.shop_id, staff_user_id=staff.id,
            method=method, created_at=now, last_seen_at=now,
        )
    )
    flask_session = _flask_session()
    flask_session[SESSION_KEY] = token
    flask_session["console_pw"] = _password_mark(staff)
    flask_session["console_embedded"] = method == "session_token"


def _flask_session():
    return session


def session_token() -> str | None:
    token = session.get(SESSION_KEY)
    return token if isinstance(token, str) and 20 <= len(token) <= 100 else None


def session_cookie_clear() -> None:
    for key in (SESSION_KEY, "console_pw", "console_embedded", "csrf_token"):
        session.pop(key, None)


def _end(db: Session, token: str) -> None:
    db.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == _hash_token(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_session() -> None:
    """Sign out: end the row and forget the cookie's values. Commits."""
    token = session_token()
    db = db_session()
    if token:
        _end(db, token)
        db.commit()
    session_cookie_clear()


def end_sessions(db: Session, staff_user_id: int) -> None:
    db.execute(
        update(ConsoleSession)
        .where(ConsoleSession.staff_user_id == staff_user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def load_session() -> None:
    """Before every console request: who is signed in, if anyone."""
    g.console_staff = None
    g.console_expired = False
    token = session_token()
    if token is None:
        return
    db = db_session()
    row = db.get(ConsoleSession, _hash_token(token))
    now = utcnow()
    if row is None or row.ended_at is not None:
        session_cookie_clear()
        g.console_expired = row is not None
        return
    idle, absolute = _limits()
    staff = db.get(StaffUser, row.staff_user_id)
    valid = (
        staff is not None
        and staff.active
        and staff.shop_id == row.shop_id
        and now - row.last_seen_at <= idle
        and now - row.created_at <= absolute
        and session.get("console_pw") == _password_mark(staff)
    )
    if not valid:
        row.ended_at = now
        db.commit()
        session_cookie_clear()
        g.console_expired = True
        return
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db.commit()
    g.console_staff = staff
    g.console_session = row
    g.shop_id = staff.shop_id


def _limits() -> tuple[timedelta, timedelta]:
    cfg = current_app.config
    return (
        timedelta(seconds=int(cfg.get("CONSOLE_IDLE_SECONDS", IDLE_TIMEOUT.total_seconds()))),
        timedelta(seconds=int(cfg.get("CONSOLE_ABSOLUTE_SECONDS", ABSOLUTE_TIMEOUT.total_seconds()))),
    )


def current_staff() -> StaffUser | None:
    """The signed-in staff user of this request, or None."""
    return g.get("console_staff")


def can(permission: str) -> bool:
    staff = current_staff()
    return staff is not None and allowed(staff.role, permission)


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after signing in; anything else is dropped."""
    if not target or len(target) > 2000 or not target.startswith("/admin"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "\\" in target:
        return None
    return target


def require(permission: str) -> Callable:
    """View decorator: signed in (else to the sign-in page) with a role that has
    `permission` (else a 403 page)."""

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args, **kwargs):
            staff = current_staff()
            if staff is None:
                target = request.full_path if request.method == "GET" else None
                kwargs_next = {"next": target.rstrip("?")} if target else {}
                if g.get("console_expired"):
                    kwargs_next["expired"] = "1"
                return redirect(url_for("console.sign_in", **kwargs_next))
            if not allowed(staff.role, permission):
                return render_template(
                    "console/error.html", status=403, title="Not allowed",
                    message=f"Your role ({staff.role}) does not allow this.",
                ), 403
            return fn(*args, **kwargs)

        return wrapper

    return decorator


def shop_id() -> int:
    return g.shop_id


def forbidden():
    """The 403 page, for a view that checks a second permission itself."""
    staff = current_staff()
    role = staff.role if staff is not None else "none"
    return render_template(
        "console/error.html", status=403, title="Not allowed",
        message=f"Your role ({role}) does not allow this.",
    ), 403
