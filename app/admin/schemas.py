"""Request and response shapes of the admin JSON API, and the source of its OpenAPI
schemas. Requests are strict (a string is not a number, unknown body fields are refused)
so a typo in a support tool fails loudly instead of doing something else."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo

from app.admin.pagination import PageQuery
from app.loyalty.program import ProgramSettings

MAX_ADJUSTMENT = 1_000_000


def _storable(value: str) -> str:
    """Text PostgreSQL can store: no NUL character and no lone UTF-16 surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("must be valid Unicode text")
    return value


SafeText = Annotated[StrictStr, AfterValidator(_storable)]


# -- customers ---------------------------------------------------------------------------


class CustomerSearchQuery(PageQuery):
    query: Annotated[str, AfterValidator(_storable)] | None = Field(
        default=None,
        max_length=200,
        description="Case-insensitive part of an email, first or last name; or an exact "
        "platform customer id. A query containing '@' matches emails starting with it.",
    )
    platform_id: Annotated[str, AfterValidator(_storable)] | None = Field(
        default=None, max_length=64, description="Exact platform customer id."
    )


class CustomerOut(BaseModel):
    id: int
    platform_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    points_balance: int
    pending_points: int
    lifetime_points: int
    tier: str | None
    orders_count: int
    total_spent_minor: int = Field(description="In minor units of `currency`.")
    currency: str
    created_at: datetime


class CustomerDetail(CustomerOut):
    birthday: date | None
    accepts_marketing: bool
    locale: str | None
    first_order_at: datetime | None
    last_order_at: datetime | None
    average_order_minor: int = Field(
        description="total_spent_minor / orders_count, rounded down; 0 with no orders."
    )
    redacted: bool = Field(description="The platform asked us to erase this shopper's data.")
    updated_at: datetime


class CustomerList(BaseModel):
    data: list[CustomerOut]
    next_cursor: str | None


# -- ledger ------------------------------------------------------------------------------


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    points: int
    kind: str
    status: str
    reason: str | None
    created_at: datetime
    balance_after: int | None = Field(description="Balance right after this entry (posted only).")
    order_id: int | None
    redemption_id: int | None
    staff_user_id: int | None
    available_at: datetime | None
    expires_at: datetime | None
    resolved_at: datetime | None


class LedgerPage(BaseModel):
    data: list[LedgerEntryOut]
    next_cursor: str | None


class AdjustmentIn(BaseModel):
    """A manual credit (positive) or debit (negative) by support staff."""

    model_config = ConfigDict(extra="forbid")

    points: StrictInt = Field(
        ge=-MAX_ADJUSTMENT,
        le=MAX_ADJUSTMENT,
        description="Non-zero; a debit never takes the balance below zero.",
    )
    reason: SafeText = Field(
        max_length=2000, description="Why; shown in the audit log. 1 to 500 characters."
    )

    @field_validator("points")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= 500:
            raise ValueError("must be 1 to 500 characters (not counting surrounding spaces)")
        return value


class AdjustmentOut(BaseModel):
    entry: LedgerEntryOut
    points_balance: int = Field(description="The customer's balance now.")
    replayed: bool = Field(description="True when this Idempotency-Key was already used.")


# -- audit log ---------------------------------------------------------------------------


class AuditQuery(PageQuery):
    action: Annotated[str, AfterValidator(_storable)] | None = Field(default=None, max_length=64)
    target_type: Annotated[str, AfterValidator(_storable)] | None = Field(
        default=None, max_length=32
    )
    target_id: Annotated[str, AfterValidator(_storable)] | None = Field(default=None, max_length=64)


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    staff_user_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None
    created_at: datetime


class AuditPage(BaseModel):
    data: list[AuditEventOut]
    next_cursor: str | None


# -- programme ---------------------------------------------------------------------------


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` with every field optional (same types and limits), unknown fields refused:
    the body of a partial update. Built from the model so a new setting needs no edit."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        # Same constraints and metadata, but the default is None and no factory applies.
        optional = FieldInfo(
            default=None,
            alias=info.alias,
            title=info.title,
            description=info.description,
            examples=info.examples,
            json_schema_extra=info.json_schema_extra,
        )
        optional.metadata = list(info.metadata)
        fields[field_name] = (info.annotation | None, optional)  # type: ignore[operator]
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


ProgramUpdate = _partial(ProgramSettings, "ProgramUpdate")
ProgramUpdate.__doc__ = "Settings to change; omitted ones keep their value. null is refused."
