"""The points ledger: append-only entries and the cached balances they imply.

Every write goes through `post`, `post_pending` or `void_pending`. Each one changes the
customer's cached columns with one conditional UPDATE in the same transaction as the
entry, so the balance can never drift from the entries and a debit can never overdraw:
the database decides, not a read-then-write in Python. Callers commit; nothing here does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from app.loyalty.errors import (
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPosting,
    PendingAlreadyResolved,
)
from app.models import ENTRY_KINDS, Customer, LedgerEntry, utcnow

# Kinds whose posted points count towards `lifetime_points` (what tiers are earned on).
EARNING_KINDS = frozenset(
    {"earn_order", "earn_signup", "earn_birthday", "earn_referral", "earn_action", "reversal", "import"}
)
# Only taking back earned points may push a balance below zero; later earnings repay it.
MAY_OVERDRAW = frozenset({"reversal"})
# Kinds that may be held pending before they are posted.
MAY_BE_PENDING = frozenset({"earn_order", "earn_referral", "earn_action", "earn_signup"})
MAX_POINTS = 10**12
_CACHED = ("points_balance", "pending_points", "lifetime_points", "ledger_seq")
_customers = Customer.__table__
_entries = LedgerEntry.__table__


def post(
    session: Session,
    *,
    shop_id: int,
    customer_id: int,
    points: int,
    kind: str,
    idempotency_key: str,
    pending: bool = False,
    reason: str | None = None,
    order_id: int | None = None,
    redemption_id: int | None = None,
    staff_user_id: int | None = None,
    reverses_entry_id: int | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Append one entry. Replaying the same key with the same customer, kind and amount
    returns the first entry and changes nothing; the same key with anything else differing
    raises `IdempotencyConflict`."""
    _validate(points, kind, idempotency_key, pending)
    now = now or utcnow()
    # The customer row is updated first: its row lock orders concurrent postings, and the
    # conditional UPDATE is what refuses an overdraw. A replayed key is then found by the
    # insert (ON CONFLICT DO NOTHING) and the cached columns are put back.
    try:
        if pending:
            _apply_pending(session, shop_id, customer_id, points)
            seq = balance_after = None
        else:
            seq, balance_after = _apply_posted(session, shop_id, customer_id, points, kind)
    except InsufficientPoints:
        existing = find_by_key(session, shop_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, customer_id, points, kind)
        raise
    values = {
        "shop_id": shop_id,
        "customer_id": customer_id,
        "points": points,
        "kind": kind,
        "status": "pending" if pending else "posted",
        "idempotency_key": idempotency_key,
        "seq": seq,
        "balance_after": balance_after,
        "order_id": order_id,
        "redemption_id": redemption_id,
        "staff_user_id": staff_user_id,
        "reverses_entry_id": reverses_entry_id,
        "reason": reason,
        "available_at": available_at,
        "expires_at": expires_at,
        "created_at": now,
        "resolved_at": None if pending else now,
    }
    entry_id = session.execute(_insert_entry(session), values).scalar()
    if entry_id is None:  # the key exists: undo the cached change, answer as a replay
        if pending:
            _apply_pending(session, shop_id, customer_id, -points)
        else:
            _unapply_posted(session, customer_id, points, kind)
        existing = find_by_key(session, shop_id, idempotency_key)
        if existing is None:  # pragma: no cover - the conflicting row vanished
            raise IdempotencyConflict(f"idempotency key {idempotency_key!r} is in use")
        _expire_cached(session, customer_id)
        return _replayed(existing, customer_id, points, kind)
    entry = LedgerEntry(id=entry_id, **values)
    make_transient_to_detached(entry)
    session.add(entry)
    _expire_cached(session, customer_id)
    return entry


def post_pending(
    session: Session, *, shop_id: int, entry_id: int, now: datetime | None = None
) -> LedgerEntry:
    """Post a pending entry. Posting twice is a no-op; posting a voided entry raises."""
    return _resolve(session, shop_id, entry_id, "posted", now or utcnow())


def void_pending(
    session: Session, *, shop_id: int, entry_id: int, now: datetime | None = None
) -> LedgerEntry:
    """Void a pending entry. Voiding twice is a no-op; voiding a posted entry raises."""
    return _resolve(session, shop_id, entry_id, "voided", now or utcnow())


def find_by_key(session: Session, shop_id: int, idempotency_key: str) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.shop_id == shop_id, LedgerEntry.idempotency_key == idempotency_key
        )
    )


def sum_for_order(session: Session, shop_id: int, order_id: int) -> tuple[int, int]:
    """(posted, pending) points already booked against one order."""
    return sums_for_orders(session, shop_id, [order_id]).get(order_id, (0, 0))


def sums_for_orders(session: Session, shop_id: int, order_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(posted, pending) points booked against each of the orders, in one query; an order
    with nothing booked is absent."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(LedgerEntry.order_id, LedgerEntry.status, func.coalesce(func.sum(LedgerEntry.points), 0))
        .where(LedgerEntry.shop_id == shop_id, LedgerEntry.order_id.in_(order_ids))
        .where(LedgerEntry.status != "voided")
        .group_by(LedgerEntry.order_id, LedgerEntry.status)
    ).all()
    totals: dict[int, tuple[int, int]] = {}
    for order_id, status, total in rows:
        posted, pending = totals.get(order_id, (0, 0))
        if status == "posted":
            posted = int(total)
        elif status == "pending":
            pending = int(total)
        totals[order_id] = (posted, pending)
    return totals


# -- internals -------------------------------------------------------------------------


def _validate(points: int, kind: str, key: str, pending: bool) -> None:
    if kind not in ENTRY_KINDS:
        raise InvalidPosting(f"unknown entry kind {kind!r}")
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidPosting("points must be a whole number")
    if points == 0:
        raise InvalidPosting("an entry must move at least one point")
    if abs(points) > MAX_POINTS:
        raise InvalidPosting(f"points must be between -{MAX_POINTS} and {MAX_POINTS}")
    if not key or len(key) > 200:
        raise InvalidPosting("an idempotency key of 1 to 200 characters is required")
    if pending and (points < 0 or kind not in MAY_BE_PENDING):
        raise InvalidPosting("only earned points may be held pending")


def _apply_posted(
    session: Session, shop_id: int, customer_id: int, points: int, kind: str, *, from_pending: bool = False
) -> tuple[int, int]:
    guarded = points < 0 and kind not in MAY_OVERDRAW
    stmt = _posted_update(guarded, kind in EARNING_KINDS, from_pending)
    row = session.execute(
        stmt, {"b_customer_id": customer_id, "b_shop_id": shop_id, "b_points": points}
    ).first()
    if row is None:
        balance = session.scalar(
            select(Customer.points_balance).where(
                Customer.id == customer_id, Customer.shop_id == shop_id
            )
        )
        if balance is None:
            raise CustomerNotFound("customer not found")
        raise InsufficientPoints(
            f"not enough points: balance {balance}, needed {-points}",
            details={"points_balance": int(balance), "needed": -points},
        )
    return int(row.ledger_seq), int(row.points_balance)


def _unapply_posted(session: Session, customer_id: int, points: int, kind: str) -> None:
    values = {
        "points_balance": _customers.c.points_balance - points,
        "ledger_seq": _customers.c.ledger_seq - 1,
    }
    if kind in EARNING_KINDS:
        values["lifetime_points"] = _customers.c.lifetime_points - points
    session.execute(update(_customers).where(_customers.c.id == customer_id).values(**values))


# Statements are built once and reused: the hot path then only binds parameters.
_statements: dict[tuple, object] = {}


def _posted_update(guarded: bool, earning: bool, from_pending: bool):
    """UPDATE customers SET balance += :points, seq += 1 [, lifetime, pending]
    WHERE id AND shop [AND balance >= -:points] RETURNING balance, seq."""
    key = ("posted", guarded, earning, from_pending)
    if key not in _statements:
        c = _customers.c
        points = bindparam("b_points", type_=BigInteger)
        values = {"points_balance": c.points_balance + points, "ledger_seq": c.ledger_seq + 1}
        if earning:
            values["lifetime_points"] = c.lifetime_points + points
        if from_pending:
            values["pending_points"] = c.pending_points - points
        stmt = update(_customers).where(
            c.id == bindparam("b_customer_id"), c.shop_id == bindparam("b_shop_id")
        )
        if guarded:
            stmt = stmt.where(c.points_balance >= -points)
        _statements[key] = stmt.values(**values).returning(c.points_balance, c.ledger_seq)
    return _statements[key]


def _insert_entry(session: Session):
    """INSERT ... ON CONFLICT (shop_id, idempotency_key) DO NOTHING RETURNING id."""
    dialect = session.get_bind().dialect.name
    key = ("insert", dialect)
    if key not in _statements:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        columns = [c.name for c in _entries.c if c.name != "id"]
        _statements[key] = (
            insert(_entries)
            .values({name: bindparam(name, type_=_entries.c[name].type) for name in columns})
            .on_conflict_do_nothing(index_elements=["shop_id", "idempotency_key"])
            .returning(_entries.c.id)
        )
    return _statements[key]


def _apply_pending(session: Session, shop_id: int, customer_id: int, delta: int) -> None:
    c = _customers.c
    row = session.execute(
        update(_customers)
        .where(c.id == customer_id, c.shop_id == shop_id)
        .values(pending_points=c.pending_points + delta)
        .returning(c.id)
    ).first()
    if row is None:
        raise CustomerNotFound("customer not found")


def _resolve(session: Session, shop_id: int, entry_id: int, target: str, now: datetime) -> LedgerEntry:
    with session.begin_nested():
        # The conditional UPDATE takes the row lock: concurrent post/void serialise here.
        changed = session.execute(
            update(LedgerEntry)
            .where(
                LedgerEntry.id == entry_id,
                LedgerEntry.shop_id == shop_id,
                LedgerEntry.status == "pending",
            )
            .values(status=target, resolved_at=now)
            .returning(LedgerEntry.customer_id, LedgerEntry.points, LedgerEntry.kind),
            execution_options={"synchronize_session": False},
        ).first()
        if changed is not None:
            if target == "posted":
                seq, balance_after = _apply_posted(
                    session, shop_id, changed.customer_id, changed.points, changed.kind,
                    from_pending=True,
                )
                session.execute(
                    update(LedgerEntry)
                    .where(LedgerEntry.id == entry_id)
                    .values(seq=seq, balance_after=balance_after),
                    execution_options={"synchronize_session": False},
                )
            else:
                _apply_pending(session, shop_id, changed.customer_id, -changed.points)
    entry = session.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.id == entry_id, LedgerEntry.shop_id == shop_id)
        .execution_options(populate_existing=True)
    )
    if entry is None:
        raise InvalidPosting("no such ledger entry", status=404, code="not_found")
    if entry.status != target:
        raise PendingAlreadyResolved(
            f"entry {entry_id} is already {entry.status}; it cannot become {target}"
        )
    _expire_cached(session, entry.customer_id)
    return entry


def _replayed(existing: LedgerEntry, customer_id: int, points: int, kind: str) -> LedgerEntry:
    if (existing.customer_id, existing.points, existing.kind) != (customer_id, points, kind):
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was already used for "
            f"{existing.points} points ({existing.kind}) on customer {existing.customer_id}",
            details={"entry_id": existing.id},
        )
    return existing


def _expire_cached(session: Session, customer_id: int) -> None:
    """Cached columns changed in SQL: make a loaded Customer reread them."""
    obj = session.identity_map.get(identity_key(Customer, customer_id))
    if obj is not None:
        session.expire(obj, list(_CACHED))
