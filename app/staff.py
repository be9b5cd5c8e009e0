"""Staff users and their bearer tokens (stored as SHA-256; shown once at creation)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, ValidationFailed
from app.models import ROLES, ApiToken, StaffUser, utcnow

TOKEN_PREFIX = "llst_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_staff_user(session: Session, *, shop_id: int, email: str, role: str) -> StaffUser:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    email = email.strip().lower()
    if "@" not in email:
        raise ValidationFailed("email must be an email address")
    if session.scalar(select(StaffUser.id).where(StaffUser.shop_id == shop_id, StaffUser.email == email)):
        raise Conflict(f"staff user {email} already exists in this shop")
    user = StaffUser(shop_id=shop_id, email=email, role=role)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: StaffUser, label: str = "api") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(staff_user_id=user.id, token_hash=hash_token(token), label=label))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> StaffUser | None:
    """The active staff user a bearer token belongs to, or None. The lookup is by hash, so
    no token is ever compared in Python."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(StaffUser, ApiToken.id)
        .join(ApiToken, ApiToken.staff_user_id == StaffUser.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        .where(StaffUser.active.is_(True))
    ).first()
    if row is None:
        return None
    session.execute(update(ApiToken).where(ApiToken.id == row[1]).values(last_used_at=utcnow()))
    return row[0]
