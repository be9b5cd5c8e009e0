"""The one decorator every admin API view sits behind: a bearer token, a minimum role,
and `g.staff` / `g.shop_id` set so every query can be scoped by shop."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from app.errors import Forbidden, Unauthorized
from app.staff import authenticate
from app.web import db_session


def current_shop_id() -> int:
    return g.shop_id


def require_staff(minimum_role: str = "viewer") -> Callable:
    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("an Authorization: Bearer <staff token> header is required")
            session = db_session()
            staff = authenticate(session, token.strip())
            if staff is None:
                raise Unauthorized("the staff token is not valid")
            session.commit()  # records last_used_at
            if not staff.has_role(minimum_role):
                raise Forbidden(f"this needs the {minimum_role} role or higher; you are {staff.role}")
            g.staff = staff
            g.shop_id = staff.shop_id
            return fn(*args, **kwargs)

        return wrapper

    return decorator
