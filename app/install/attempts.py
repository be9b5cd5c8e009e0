"""One-time install and connect tokens (`InstallAttempt`), shared by both platforms.

`start` stores only the SHA-256 of a fresh random token and returns the token; `consume`
accepts it once, before its expiry, with a conditional UPDATE (`used_at IS NULL`), so two
callbacks racing with the same token cannot both win.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.models import InstallAttempt, utcnow

SHOPIFY_TTL = timedelta(minutes=10)
WOOCOMMERCE_TTL = timedelta(minutes=15)
KEEP_USED_FOR = timedelta(days=7)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: Session, platform: str, domain: str, ttl: timedelta, now: datetime | None = None) -> str:
    """A new attempt; returns its token (never stored)."""
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(InstallAttempt(platform=platform, domain=domain, token_hash=token_hash(token),
                               created_at=moment, expires_at=moment + ttl))
    session.flush()
    return token


def consume(session: Session, platform: str, token: str, *, domain: str | None = None,
            now: datetime | None = None) -> InstallAttempt | None:
    """The attempt this token belongs to, marked used; None when the token is unknown,
    expired, already used, or for another platform or shop."""
    if not token or len(token) > 200:
        return None
    moment = now or utcnow()
    conditions = [
        InstallAttempt.token_hash == token_hash(token),
        InstallAttempt.platform == platform,
        InstallAttempt.used_at.is_(None),
        InstallAttempt.expires_at > moment,
    ]
    if domain is not None:
        conditions.append(InstallAttempt.domain == domain)
    result = session.execute(update(InstallAttempt).where(*conditions).values(used_at=moment)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    return session.scalar(select(InstallAttempt).where(InstallAttempt.token_hash == token_hash(token)))


def purge(session: Session, now: datetime | None = None) -> int:
    """Delete attempts that expired unused, and used ones older than `KEEP_USED_FOR`."""
    moment = now or utcnow()
    result = session.execute(delete(InstallAttempt).where(
        (InstallAttempt.used_at.is_(None) & (InstallAttempt.expires_at < moment))
        | (InstallAttempt.used_at < moment - KEEP_USED_FOR)
    ))
    return int(result.rowcount or 0)
