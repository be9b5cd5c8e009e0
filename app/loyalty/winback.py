"""Win-back rules: campaign settings, when a shopper is at risk or lapsed, who is held out,
and the statistics of the lift. Pure functions; the database side is
`app.loyalty.winback_select` (who to offer) and `app.analytics.winback` (results).

The thresholds, in days since the shopper's last order, with `m` the shopper's median gap
between orders (or, for a one-order shopper, the shop's median time from first to second
order; `min_days` alone when the shop has no repeat buyers yet):

    at risk  when days > max(min_days, k × m)                     (defaults 30, 1.5)
    lapsed   when days > max(min_days, k × m) × lapsed_multiplier / k   (default 3)
             = max(min_days × L / k, L × m)

so "lapsed" is past 3 × the median gap, and the floor scales with it (60 days by default):
a lapsed threshold is never below the at-risk one.

Holdout: a shopper is held out of a campaign when the first 8 bytes of
sha256("winback:{campaign_id}:{customer_id}"), as an integer mod 10,000, fall below
holdout_percent × 100. The same shopper is in the same group on every run.

Lift: the conversion rates of the offered group p1 = x1/n1 and the holdout p0 = x0/n0, their
difference d = p1 - p0 with a 95% interval by Newcombe's hybrid score method (method 10 of
Newcombe 1998, from the two Wilson score intervals (l1, u1), (l0, u0)):

    L = d - sqrt((p1 - l1)² + (u0 - p0)²)      U = d + sqrt((u1 - p1)² + (p0 - l0)²)

Incremental conversions are d × n1 (interval L × n1, U × n1). Incremental revenue is the
difference of mean revenue per shopper (non-converters count as 0) times n1, with a
normal-approximation (Welch) interval: (r1 - r0) ± 1.96 × sqrt(s1²/n1 + s0²/n0), times n1.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LOCALES = ("en", "nl", "es", "nb")
Z95 = 1.959963984540054
HOLDOUT_BUCKETS = 10_000
MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints
# Merge fields a campaign's own subject and body may use.
MERGE_FIELDS = ("first_name", "balance", "offer", "code", "expires_on", "shop_url", "shop_name", "points")
_SAMPLE = {
    "first_name": "Ada", "balance": "1,250", "offer": "200 bonus points", "code": "LL-ABCDEFGHJK",
    "expires_on": "May 1, 2026", "shop_url": "https://shop.example", "shop_name": "Shop", "points": "200",
    "balance_count": 1250, "points_count": 200,
}
_SANDBOX = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class CampaignText(BaseModel):
    """A campaign's own words in one language; empty keeps the built-in text."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=4000)

    @field_validator("subject", "body")
    @classmethod
    def _renders(cls, value: str) -> str:
        if value:
            try:
                _SANDBOX.from_string(value).render(_SAMPLE)
            except TemplateError as exc:
                raise ValueError(
                    f"template does not render ({exc}); merge fields: {', '.join(MERGE_FIELDS)}"
                ) from None
        return value


class CampaignSettings(BaseModel):
    """One shop's win-back campaign. Stored as JSON; missing settings take these defaults."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Run the daily win-back pass for this shop.")
    holdout_percent: int = Field(
        default=10, ge=0, le=50, description="Share of selected shoppers recorded but not sent to."
    )
    offer_kind: Literal["points", "reward"] = Field(
        default="points", description="points: bonus points; reward: a single-use code of a reward."
    )
    offer_points: int = Field(default=100, ge=1, le=1_000_000, description="Bonus points for at-risk shoppers.")
    lapsed_offer_points: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="Bonus points for lapsed shoppers (the stronger offer); null: twice offer_points.",
    )
    offer_reward_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Reward given free to at-risk shoppers."
    )
    lapsed_offer_reward_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Reward given free to lapsed shoppers; null: offer_reward_id."
    )
    points_expire_days: int = Field(
        default=30, ge=1, le=365, description="Days until unspent win-back points expire."
    )
    cooldown_days: int = Field(
        default=60, ge=0, le=3650, description="No new offer (or holdout selection) within this many days of the last."
    )
    min_days: int = Field(default=30, ge=1, le=3650, description="At risk never before this many days since the last order.")
    gap_multiplier: Decimal = Field(
        default=Decimal("1.5"), ge=1, le=20, max_digits=6, decimal_places=2,
        description="k: at risk after k × the shopper's median gap between orders.",
    )
    lapsed_multiplier: Decimal = Field(
        default=Decimal("3"), ge=1, le=50, max_digits=6, decimal_places=2,
        description="Lapsed (second, stronger offer) after this × the median gap.",
    )
    refund_lookback_days: int = Field(
        default=14, ge=0, le=365, description="No offer to shoppers refunded within this many days."
    )
    attribution_days: int = Field(
        default=14, ge=1, le=365, description="An order within this many days of the offer is a conversion."
    )
    texts: dict[str, CampaignText] = Field(
        default={},
        description="Per language (en, nl, es, nb): the campaign's own subject and body, Jinja "
        "templates over first_name, balance, offer, code, expires_on, shop_url, shop_name.",
    )

    @field_validator("texts")
    @classmethod
    def _known_languages(cls, value: dict[str, CampaignText]) -> dict[str, CampaignText]:
        unknown = sorted(set(value) - set(LOCALES))
        if unknown:
            raise ValueError(f"texts: unknown languages {unknown}; use {list(LOCALES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSettings:
        if self.lapsed_multiplier < self.gap_multiplier:
            raise ValueError("lapsed_multiplier must be at least gap_multiplier")
        if self.offer_kind == "reward" and self.offer_reward_id is None:
            raise ValueError("offer_kind 'reward' needs offer_reward_id")
        return self

    def points_for(self, stage: str) -> int:
        if stage == "lapsed":
            return self.lapsed_offer_points or 2 * self.offer_points
        return self.offer_points

    def reward_for(self, stage: str) -> int | None:
        if stage == "lapsed":
            return self.lapsed_offer_reward_id or self.offer_reward_id
        return self.offer_reward_id


def load_campaign_settings(raw: dict[str, Any] | None) -> CampaignSettings:
    return CampaignSettings.model_validate(raw or {})


def settings_update(current: CampaignSettings, changes: dict[str, Any]) -> CampaignSettings:
    """New settings with `changes` applied, validated as a whole."""
    return CampaignSettings.model_validate({**current.model_dump(), **changes})


# -- thresholds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    at_risk_days: float
    lapsed_days: float


def thresholds(median_gap_days: float | None, min_days: float, k: float, lapsed: float) -> Thresholds:
    """Days since the last order after which a shopper is at risk, and lapsed."""
    at_risk = float(min_days) if median_gap_days is None else max(float(min_days), k * median_gap_days)
    # lapsed >= k by the settings; max() keeps float rounding from putting it below at_risk
    return Thresholds(at_risk, max(at_risk, at_risk * lapsed / k))


def classify(days_since: float, median_gap_days: float | None, min_days: float, k: float,
             lapsed: float) -> str | None:
    """`lapsed`, `at_risk` or None (still active)."""
    t = thresholds(median_gap_days, min_days, k, lapsed)
    if days_since > t.lapsed_days:
        return "lapsed"
    if days_since > t.at_risk_days:
        return "at_risk"
    return None


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def median_gap_days(order_times: list[datetime]) -> float | None:
    """The shopper's median gap between consecutive orders, in days (None with one order)."""
    times = sorted(order_times)
    return median([(b - a).total_seconds() / 86400 for a, b in zip(times, times[1:], strict=False)])


def period_key(stage: str, last_order_at: datetime) -> str:
    """One offer per stage per lapse: a new order starts a new period."""
    return f"{stage}:{int(last_order_at.timestamp())}"


# -- holdout ------------------------------------------------------------------------------


def holdout_bucket(campaign_id: int, customer_id: int) -> int:
    digest = hashlib.sha256(f"winback:{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_BUCKETS


def in_holdout(campaign_id: int, customer_id: int, holdout_percent: int) -> bool:
    return holdout_bucket(campaign_id, customer_id) < holdout_percent * (HOLDOUT_BUCKETS // 100)


# -- statistics ---------------------------------------------------------------------------


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> tuple[float, float, float]:
    """(p1 - p0, lower, upper): Newcombe's hybrid score interval for a difference of
    proportions. With an empty group the difference is unknown: (0, -1, 1)."""
    if n1 <= 0 or n0 <= 0:
        return 0.0, -1.0, 1.0
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1, z)
    l0, u0 = wilson(x0, n0, z)
    d = p1 - p0
    return d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def mean_difference(sum1: float, sumsq1: float, n1: int, sum0: float, sumsq0: float, n0: int,
                    z: float = Z95) -> tuple[float, float, float]:
    """(mean1 - mean0, lower, upper) with a normal-approximation (Welch) interval, from
    sums and sums of squares. Needs two shoppers per group; else the interval is None-like
    (-inf, inf)."""
    if n1 <= 0 or n0 <= 0:
        return 0.0, -math.inf, math.inf
    m1, m0 = sum1 / n1, sum0 / n0
    d = m1 - m0
    if n1 < 2 or n0 < 2:
        return d, -math.inf, math.inf
    v1 = max(0.0, (sumsq1 - n1 * m1 * m1) / (n1 - 1))
    v0 = max(0.0, (sumsq0 - n0 * m0 * m0) / (n0 - 1))
    half = z * math.sqrt(v1 / n1 + v0 / n0)
    return d, d - half, d + half
