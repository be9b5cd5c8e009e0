"""What a reward costs and who may redeem it.

Pure rules over a `Reward` and a `Customer`: no session, no I/O. The redemption saga
(`app.loyalty.redemptions`) calls them inside its transaction; the storefront calls them
to show which rewards a shopper can afford.
"""

from __future__ import annotations

from app.errors import NotFound, ValidationFailed
from app.models import Customer, Reward


class RewardNotFound(NotFound):
    code = "reward_not_found"


class RewardUnavailable(ValidationFailed):
    """The reward exists but cannot be redeemed (switched off, or not for this shopper)."""

    code = "reward_unavailable"


class InvalidRewardPoints(ValidationFailed):
    """The points chosen for a variable reward are off its steps or outside its range."""

    code = "invalid_reward_points"


# Reasons `redeemable_by` gives; shown to shoppers and staff, so they are plain words.
REASON_INACTIVE = "this reward is not available"
REASON_TIER = "this reward is for other tiers"


def step_range(reward: Reward) -> tuple[int, int | None]:
    """(minimum, maximum or None) points a variable reward accepts; a fixed reward costs
    exactly `points_cost` (both ends)."""
    if reward.kind != "variable_amount":
        return reward.points_cost, reward.points_cost
    return max(reward.min_points or reward.points_cost, reward.points_cost), reward.max_points


def price(reward: Reward, points: int | None = None) -> tuple[int, int]:
    """(points spent, value of the code) for redeeming `reward`.

    A variable reward sells whole steps: `points` must be a multiple of `points_cost`
    between `min_points` and `max_points`, and buys `value` minor units per step. For any
    other reward `points` is optional and, when given, must equal its cost, so a client
    that misread the price is refused rather than charged something else."""
    if reward.points_cost <= 0:
        raise RewardUnavailable(REASON_INACTIVE)
    if points is not None and (isinstance(points, bool) or not isinstance(points, int)):
        raise InvalidRewardPoints("points must be a whole number")
    if reward.kind != "variable_amount":
        if points is not None and points != reward.points_cost:
            raise InvalidRewardPoints(
                f"this reward costs {reward.points_cost} points",
                details={"points_cost": reward.points_cost},
            )
        return reward.points_cost, reward.value
    low, high = step_range(reward)
    details = {"step": reward.points_cost, "min_points": low, "max_points": high}
    if points is None:
        raise InvalidRewardPoints("choose how many points to spend", details=details)
    if points < low or (high is not None and points > high):
        bounds = f"at least {low}" + (f" and at most {high}" if high is not None else "")
        raise InvalidRewardPoints(f"spend {bounds} points", details=details)
    if points % reward.points_cost:
        raise InvalidRewardPoints(
            f"points must be a multiple of {reward.points_cost}", details=details
        )
    return points, (points // reward.points_cost) * reward.value


def redeemable_by(reward: Reward, customer: Customer) -> tuple[bool, str | None]:
    """Whether `customer` may redeem `reward` at all (ignoring the balance), and why not."""
    if not reward.active or reward.deleted_at is not None:
        return False, REASON_INACTIVE
    if reward.tiers is not None and customer.tier not in reward.tiers:
        return False, REASON_TIER
    return True, None


def affordable(reward: Reward, customer: Customer) -> bool:
    """Redeemable by the customer and covered by their spendable balance (for a variable
    reward: its smallest amount)."""
    ok, _ = redeemable_by(reward, customer)
    return ok and reward.points_cost > 0 and customer.points_balance >= step_range(reward)[0]
