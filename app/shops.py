"""Creating and finding shops. Every tenant-scoped lookup goes through `get_by_id_and_shop`."""

from __future__ import annotations

import secrets
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ValidationFailed
from app.models import PLATFORMS, Shop

T = TypeVar("T")


def get_by_id_and_shop(session: Session, model: type[T], record_id: int, shop_id: int) -> T:
    """The one way to load a tenant's record: another shop's id is simply not found."""
    if not 0 < record_id < 2**63:  # beyond a BIGINT: no such record, never a database error
        raise NotFound(f"{model.__name__.lower()} {record_id} not found")  # type: ignore[attr-defined]
    record = session.scalar(
        select(model).where(model.id == record_id, model.shop_id == shop_id)  # type: ignore[attr-defined]
    )
    if record is None:
        raise NotFound(f"{model.__name__.lower()} {record_id} not found")  # type: ignore[attr-defined]
    return record


def create_shop(
    session: Session,
    *,
    platform: str,
    domain: str,
    credentials: dict[str, Any],
    currency: str = "USD",
    name: str = "",
    program: dict[str, Any] | None = None,
) -> Shop:
    if platform not in PLATFORMS:
        raise ValidationFailed(f"platform must be one of {PLATFORMS}")
    currency = currency.upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationFailed("currency must be a three-letter ISO 4217 code")
    domain = domain.strip().rstrip("/")
    if session.scalar(select(Shop.id).where(Shop.platform == platform, Shop.domain == domain)):
        raise Conflict(f"a {platform} shop for {domain} already exists")
    shop = Shop(
        platform=platform,
        domain=domain,
        name=name or domain,
        currency=currency,
        credentials=credentials,
        widget_secret={"secret": secrets.token_urlsafe(32)},
        program=program or {},
        storefront_origins=[],
    )
    session.add(shop)
    session.flush()
    return shop


def find_shop(session: Session, platform: str, domain: str) -> Shop | None:
    return session.scalar(select(Shop).where(Shop.platform == platform, Shop.domain == domain))
