"""A shop's programme settings: how orders earn and how points are spent.

Stored as JSON on the shop; read through `load_program`, which fills defaults, so a
setting added later never breaks an older shop.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What a custom action key may look like: `review`, `follow_instagram`.
ACTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ActionSetting(BaseModel):
    """One custom action the shop rewards (recorded by staff through the admin API)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=120, description="Shown to staff and shoppers.")
    points: int = Field(ge=1, le=1_000_000, description="Points per completion.")
    limit: int | None = Field(
        default=1, ge=1, le=10_000,
        description="Completions rewarded per shopper, ever (null: no limit).",
    )


class ProgramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points_per_unit: Decimal = Field(
        default=Decimal("1"), ge=0, le=10000, max_digits=10, decimal_places=4,
        description="Points per 1 unit of shop currency (e.g. per dollar), rounded down per order.",
    )
    exclude_tax: bool = Field(default=True, description="Tax does not earn points.")
    exclude_shipping: bool = Field(default=True, description="Shipping does not earn points.")
    signup_points: int = Field(default=0, ge=0, le=1_000_000, description="Points for joining, once.")
    pending_days: int = Field(
        default=0, ge=0, le=365,
        description="Days order points stay pending before they can be spent (refund window).",
    )
    return_points_on_refunded_reward: bool = Field(
        default=False, description="Give back the points of a reward code used on a refunded order.",
    )
    return_points_on_code_expiry: bool = Field(
        default=False,
        description="Give the points back when a reward code expires unused.",
    )
    points_expire_months: int | None = Field(
        default=None, ge=1, le=120,
        description="Earned points expire this many months after they were earned (null: never).",
    )
    expiry_reminder_days: list[int] = Field(
        default=[30, 7],
        description="Days before expiry on which a reminder is mailed (once per lot and reminder).",
    )
    lifecycle_mail: dict[str, bool] = Field(
        default={},
        description="Per lifecycle mail kind (points_earned, reward_affordable, tier_reached, "
        "points_expiring, referral_reward): false switches it off. Missing kinds are on.",
    )
    point_value_minor: int = Field(
        default=1, ge=0, le=1_000_000,
        description="What one point is worth in minor units of shop currency (for liability figures).",
    )
    birthday_points: int = Field(
        default=0, ge=0, le=1_000_000,
        description="Points on the shopper's birthday, once a year (0: off). Feb 29 birthdays "
        "get them on Feb 28 in other years.",
    )
    referral_points: int = Field(
        default=0, ge=0, le=1_000_000,
        description="Points for the referrer when a referred new shopper's first order is "
        "paid and past pending_days (0: referrals off).",
    )
    referral_monthly_limit: int | None = Field(
        default=10, ge=1, le=10_000,
        description="Rewarded referrals per referrer per calendar month (shop time); null: no limit.",
    )
    referral_welcome_reward_id: int | None = Field(
        default=None, ge=1,
        description="Reward issued free (0 points) to a referred new shopper as a welcome code.",
    )
    actions: dict[str, ActionSetting] = Field(
        default={},
        description="Custom actions by key (e.g. review, follow_instagram): points and a limit per shopper.",
    )

    @field_validator("actions")
    @classmethod
    def _action_keys(cls, value: dict[str, ActionSetting] | None) -> dict[str, ActionSetting] | None:
        for key in value or {}:
            if not ACTION_KEY.match(key):
                raise ValueError(f"action key {key[:40]!r} must be lower-case letters, digits and _")
        return value


def load_program(shop: Any) -> ProgramSettings:
    return ProgramSettings.model_validate(shop.program or {})


def program_update(current: ProgramSettings, changes: dict[str, Any]) -> ProgramSettings:
    """A new settings object with `changes` applied, validated as a whole."""
    return ProgramSettings.model_validate({**current.model_dump(), **changes})
