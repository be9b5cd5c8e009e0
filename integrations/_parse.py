"""Small strict readers shared by the platform adapters: a payload that lacks an id or
carries the wrong type raises `InvalidPayload`, never a KeyError deep in the domain."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from app.loyalty.events import InvalidPayload


def require_dict(payload: Any, what: str = "payload") -> dict:
    if not isinstance(payload, dict):
        raise InvalidPayload(f"{what} must be a JSON object")
    return payload


def require_id(obj: dict, key: str = "id", what: str = "id") -> str:
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        raise InvalidPayload(f"{what} is missing")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidPayload(f"{what} must be positive")
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise InvalidPayload(f"{what} must be an integer id")


def optional_id(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value in (None, 0, "0", ""):
        return None
    return require_id(obj, key, key)


def parse_time(value: Any, what: str = "timestamp") -> datetime | None:
    """ISO 8601 → aware UTC. Strings without a zone are UTC (WooCommerce `*_gmt`)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{what} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPayload(f"{what} {value[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def text(value: Any, limit: int = 255) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload("expected a string")
    value = value.strip()
    return value[:limit] or None


def items(obj: dict, key: str) -> list[dict]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidPayload(f"{key} must be a list of objects")
    return value
