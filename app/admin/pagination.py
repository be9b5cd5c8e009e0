"""Keyset pagination for admin lists: newest first by id, with an opaque cursor.

Keyset (``WHERE id < :last ORDER BY id DESC``) rather than OFFSET, so a page costs the
same on page 1 and page 10,000 and rows added while a client walks the list never shift
it into showing a row twice. The cursor is the last id seen, base64url-encoded so clients
treat it as opaque; a cursor we did not make answers 422, never 500.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Ids are 64-bit; anything outside cannot exist and must not reach the database.
MAX_ID = 2**63 - 1
_PREFIX = "id:"


class PageQuery(BaseModel):
    """The query parameters every admin list takes."""

    model_config = ConfigDict(extra="ignore")

    cursor: str | None = Field(
        default=None,
        max_length=64,
        description="Opaque: the `next_cursor` of the previous page. Omit for the first page.",
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor stands for, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX) :].isdigit():
        raise _bad_cursor()
    last_id = int(text[len(_PREFIX) :])
    if not 0 < last_id <= MAX_ID:
        raise _bad_cursor()
    return last_id


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not valid; pass the next_cursor of a previous page", code="invalid_cursor"
    )


def keyset_page(
    session: Session, stmt: Select, id_column: Any, *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of `stmt` (a select of ORM rows, already scoped to the shop), newest
    first, and the cursor of the next page (None on the last page)."""
    last_id = decode_cursor(cursor)
    if last_id is not None:
        stmt = stmt.where(id_column < last_id)
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].id)
    return rows, None
