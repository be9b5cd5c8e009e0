"""The demo shop: a Shopify store with a year of believable history, for `loyalty demo`.

Everything here goes through the same services the product uses (`create_shop`,
`create_staff_user`, `ledger.post`), so the demo data obeys every ledger invariant and
`loyalty check-ledger` passes on it. The history is generated from a fixed seed, so two
machines show the same demo. Running it again reuses the shop and issues a new token.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.program import ProgramSettings
from app.models import Customer, OrderSnapshot, Reward, Shop, StaffUser, utcnow
from app.shops import create_shop, find_shop
from app.staff import create_staff_user, issue_token

DEMO_DOMAIN = "demo-store.myshopify.com"
DEMO_PROGRAM = ProgramSettings(
    points_per_unit=Decimal("1"),  # 1 point per dollar
    signup_points=100,
    pending_days=14,  # order points wait out the return window
    point_value_minor=1,  # 100 points = $1.00
)
DEMO_STAFF = (
    ("owner@demo-store.example", "owner"),
    ("admin@demo-store.example", "admin"),
    ("support@demo-store.example", "support"),
)
REDEEM_COST = 500  # "$5 off" for 500 points

# (first name, last name): emails are derived, on the reserved example.com domain.
DEMO_NAMES = (
    ("Ava", "Thompson"), ("Liam", "Garcia"), ("Sofia", "Martinez"), ("Noah", "Kim"),
    ("Mia", "Patel"), ("Ethan", "Nguyen"), ("Isabella", "Rossi"), ("Lucas", "Müller"),
    ("Amelia", "O'Connor"), ("Mateo", "Silva"), ("Harper", "Johansson"), ("Elijah", "Brown"),
    ("Chloe", "Dubois"), ("James", "Wilson"), ("Aria", "Tanaka"), ("Benjamin", "Cohen"),
    ("Zoe", "Okafor"), ("Henry", "Lee"), ("Nora", "Andersen"), ("Leo", "Moreau"),
    ("Lily", "Novak"), ("Daniel", "Haddad"), ("Grace", "Murphy"), ("Samuel", "Fischer"),
    ("Emma", "Wright"),
)


@dataclass(order=True)
class _Event:
    """One thing that happens to the demo shop; events are applied in time order."""

    at: datetime
    seq: int  # tie-breaker, keeps the history deterministic
    action: str = field(compare=False)
    customer: Customer = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


class _Timeline:
    """A priority queue of events; applying one may schedule later ones."""

    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._seq = 0

    def add(self, at: datetime, action: str, customer: Customer, **data) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Event(at, self._seq, action, customer, data))

    def __iter__(self):
        while self._heap:
            yield heapq.heappop(self._heap)


def seed_demo(session: Session, now: datetime | None = None) -> tuple[Shop, str]:
    """Create (or find) the demo shop and return it with a fresh owner API token.
    The caller commits."""
    now = now or utcnow()
    shop = find_shop(session, "shopify", DEMO_DOMAIN)
    if shop is None:
        shop = create_shop(
            session,
            platform="shopify",
            domain=DEMO_DOMAIN,
            name="Demo Store",
            currency="USD",
            credentials={"access_token": "shpat_demo_not_a_real_token", "demo": True},
            program=DEMO_PROGRAM.model_dump(mode="json"),
        )
        staff = {role: create_staff_user(session, shop_id=shop.id, email=email, role=role)
                 for email, role in DEMO_STAFF}
        _seed_history(session, shop, staff, now)
        session.add_all([
            Reward(shop_id=shop.id, name="$5 off", kind="fixed_amount", points_cost=500, value=500),
            Reward(shop_id=shop.id, name="Free shipping", kind="free_shipping", points_cost=750, value=0),
            Reward(shop_id=shop.id, name="10% off", kind="percentage", points_cost=1000, value=10,
                   code_valid_days=30),
        ])
    owner = session.scalar(
        select(StaffUser)
        .where(StaffUser.shop_id == shop.id, StaffUser.role == "owner", StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    )
    if owner is None:  # the owner was removed since the last demo run
        owner = create_staff_user(session, shop_id=shop.id, email=DEMO_STAFF[0][0], role="owner")
    return shop, issue_token(session, owner, label="demo")


def _seed_history(session: Session, shop: Shop, staff: dict[str, StaffUser], now: datetime) -> None:
    rng = random.Random(20240501)
    customers = _create_customers(session, shop, rng, now)
    timeline = _Timeline()
    order_number = 0
    for index, customer in enumerate(customers):
        joined = customer.created_at
        timeline.add(joined, "signup", customer)
        n_orders = 0 if index % 8 == 7 else rng.randint(1, 7)
        lapsed = index % 6 == 5  # loyal once, quiet for months: win-back material
        span_end = now - timedelta(days=150 if lapsed else 1)
        for placed_at in sorted(joined + (span_end - joined) * rng.random() for _ in range(n_orders)):
            order_number += 1
            timeline.add(placed_at, "order", customer, n=order_number)
    # Support fixed a late delivery with goodwill points; an admin removed a duplicate credit.
    timeline.add(now - timedelta(days=20), "adjust", customers[2], points=250,
                 key="demo:adjust:late-delivery", reason="Apology for a late delivery",
                 staff_user_id=staff["support"].id)
    timeline.add(now - timedelta(days=40), "adjust", customers[3], points=50,
                 key="demo:adjust:goodwill", reason="Goodwill for a damaged parcel",
                 staff_user_id=staff["admin"].id)
    timeline.add(now - timedelta(days=39), "adjust", customers[3], points=-50,
                 key="demo:adjust:goodwill-correction", reason="Duplicate goodwill credit removed",
                 staff_user_id=staff["admin"].id)

    for event in timeline:
        customer, data = event.customer, event.data
        if event.action == "signup":
            ledger.post(session, shop_id=shop.id, customer_id=customer.id,
                        points=DEMO_PROGRAM.signup_points, kind="earn_signup",
                        idempotency_key=f"demo:customer:{customer.platform_id}:signup", now=event.at)
        elif event.action == "order":
            _place_order(session, shop, customer, data["n"], event.at, now, rng, timeline)
        elif event.action == "post_pending":
            entry = ledger.post_pending(session, shop_id=shop.id, entry_id=data["entry_id"], now=event.at)
            # Shoppers with enough points now and then spend them on a $5 coupon.
            redeem_at = event.at + timedelta(days=rng.randint(1, 10))
            if rng.random() < 0.4 and redeem_at < now:
                timeline.add(redeem_at, "redeem", customer, key=f"demo:redeem:{entry.id}")
        elif event.action == "redeem":
            session.refresh(customer, ["points_balance"])
            if customer.points_balance >= REDEEM_COST:
                ledger.post(session, shop_id=shop.id, customer_id=customer.id, points=-REDEEM_COST,
                            kind="redeem", idempotency_key=data["key"], reason="$5 off coupon",
                            now=event.at)
        elif event.action == "refund":
            ledger.post(session, shop_id=shop.id, customer_id=customer.id, points=-data["points"],
                        kind="reversal", idempotency_key=f"demo:order:{data['n']}:refund:1",
                        reason="Partial refund", order_id=data["order_id"],
                        reverses_entry_id=data["entry_id"], now=event.at)
        elif event.action == "adjust":
            ledger.post(session, shop_id=shop.id, customer_id=customer.id, points=data["points"],
                        kind="adjust", idempotency_key=data["key"], reason=data["reason"],
                        staff_user_id=data["staff_user_id"], now=event.at)


def _create_customers(session: Session, shop: Shop, rng: random.Random, now: datetime) -> list[Customer]:
    customers = []
    for index, (first, last) in enumerate(DEMO_NAMES):
        slug = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue")
        joined = now - timedelta(days=rng.randint(200, 400), hours=rng.randint(0, 23))
        customer = Customer(
            shop_id=shop.id,
            platform_id=str(7300000000 + index * 137),
            email=f"{slug}@example.com",
            first_name=first,
            last_name=last,
            birthday=date(rng.randint(1960, 2003), rng.randint(1, 12), rng.randint(1, 28))
            if index % 3 else None,
            accepts_marketing=index % 4 != 0,
            locale="en",
            created_at=joined,
        )
        session.add(customer)
        customers.append(customer)
    session.flush()
    return customers


def _place_order(
    session: Session, shop: Shop, customer: Customer, n: int, placed_at: datetime,
    now: datetime, rng: random.Random, timeline: _Timeline,
) -> None:
    subtotal = rng.randrange(1800, 24000, 5)  # $18.00 – $240.00
    shipping = 0 if subtotal >= 7500 else 695
    tax = subtotal * 8 // 100
    total = subtotal + shipping + tax
    rate = DEMO_PROGRAM.points_per_unit
    points = int(subtotal * rate) // 100  # eligible amount excludes tax and shipping
    cancelled = n % 23 == 0
    available_at = placed_at + timedelta(days=DEMO_PROGRAM.pending_days)
    refund_at = placed_at + timedelta(days=rng.randint(DEMO_PROGRAM.pending_days + 1, 30))
    # Every 11th order is half refunded, once its points have landed.
    refunded = subtotal // 2 if n % 11 == 0 and not cancelled and refund_at < now else 0
    order = OrderSnapshot(
        shop_id=shop.id,
        platform_order_id=str(5600000000 + n),
        customer_id=customer.id,
        name=f"#{1000 + n}",
        placed_at=placed_at,
        platform_updated_at=refund_at if refunded else placed_at,
        status="cancelled" if cancelled else "open",
        financial_status="voided" if cancelled else ("partially_refunded" if refunded else "paid"),
        paid=not cancelled,
        cancelled=cancelled,
        currency=shop.currency,
        total_minor=total,
        eligible_minor=subtotal,
        refunded_eligible_minor=refunded,
        earn_rate=rate,
        tier_multiplier=Decimal("1"),
        campaign_multiplier=Decimal("1"),
        target_points=0 if cancelled else int((subtotal - refunded) * rate) // 100,
        computation={"eligible_minor": subtotal, "excluded": {"shipping": shipping, "tax": tax}},
        created_at=placed_at,
    )
    session.add(order)
    session.flush()

    entry = ledger.post(
        session, shop_id=shop.id, customer_id=customer.id, points=points, kind="earn_order",
        idempotency_key=f"demo:order:{n}:earn", pending=True, order_id=order.id,
        available_at=available_at, now=placed_at,
    )
    if cancelled:
        ledger.void_pending(session, shop_id=shop.id, entry_id=entry.id,
                            now=placed_at + timedelta(hours=3))
    elif available_at <= now:  # otherwise it is still in the return window: stays pending
        timeline.add(available_at, "post_pending", customer, entry_id=entry.id)
        if points > order.target_points:
            timeline.add(refund_at, "refund", customer, n=n, order_id=order.id, entry_id=entry.id,
                         points=points - order.target_points)
    if not cancelled:
        customer.orders_count = (customer.orders_count or 0) + 1
        customer.total_spent_minor = (customer.total_spent_minor or 0) + total - refunded
        customer.first_order_at = customer.first_order_at or placed_at
        customer.last_order_at = placed_at



def set_console_passwords(session: Session, shop: Shop) -> list[tuple[str, str, str]]:
    """Give the demo shop's active staff fresh random console passwords (a new set on
    every run, so no demo password is ever known in advance); returns (email, role,
    password) for printing. The caller commits."""
    import secrets

    from app.console.auth import set_password

    users = session.scalars(
        select(StaffUser)
        .where(StaffUser.shop_id == shop.id, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    ).all()
    credentials = []
    for user in users:
        password = f"demo-{secrets.token_urlsafe(12)}"
        set_password(session, user, password)
        credentials.append((user.email, user.role, password))
    return credentials
