"""Applying a balance file: each customer's posted balance is set to the file's figure.

A row is matched to a customer of the shop by platform id, else by email (ignoring case);
a row that matches nobody creates the customer (no signup bonus, no mail). The balance is
then set by posting the difference through the ledger (`kind="import"`) with the key
`import:{customer id}:{ledger seq}:{target}`: "at this point of the customer's history,
the balance was set to target". So:

- importing the same file again finds every balance already equal and posts nothing;
- a chunk retried after a crash either finds its entries committed (nothing to do) or
  replays the same keys (the ledger answers the first entry);
- nothing here sends mail: no mail hook is called, and `ensure_customer` queues nothing.

Functions take a session and never commit; `run_import` is the edge that commits chunk by
chunk and reports progress (the CLI and the RQ job call it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import Database
from app.imports.formats import BalanceRow, ParsedFile, RowError
from app.loyalty import ledger
from app.loyalty.customers import ensure_customer
from app.models import Customer, utcnow

CHUNK = 200


@dataclass
class ImportResult:
    total: int = 0
    processed: int = 0
    changed: int = 0
    unchanged: int = 0
    created: int = 0
    points_delta: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.processed += other.processed
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.created += other.created
        self.points_delta += other.points_delta
        self.errors.extend(other.errors)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def placeholder_platform_id(email: str) -> str:
    """The platform id of a customer created from an email alone (the platform's id is not
    known yet): readable when it fits, a stable digest otherwise."""
    key = email.strip().lower()
    if len(key) <= 58:
        return f"email:{key}"
    return "email:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass
class CustomerIndex:
    """Which customer id a platform id or an email (lower-case) names in one shop: read
    with one query per import pass, so matching costs no query per row and needs no
    index on lower(email). Customers created by the import are added as they are made."""

    by_platform: dict[str, int] = field(default_factory=dict)
    by_email: dict[str, int] = field(default_factory=dict)
    platform_of: dict[int, str] = field(default_factory=dict)
    claimed: dict[int, int] = field(default_factory=dict)  # customer id -> first line naming it

    @classmethod
    def load(cls, session: Session, shop_id: int) -> CustomerIndex:
        index = cls()
        rows = session.execute(
            select(Customer.id, Customer.platform_id, Customer.email)
            .where(Customer.shop_id == shop_id)
            .order_by(Customer.id)
        )
        for customer_id, platform_id, email in rows:
            index.add(customer_id, platform_id, email)
        return index

    def add(self, customer_id: int, platform_id: str, email: str | None) -> None:
        self.by_platform[platform_id] = customer_id
        self.platform_of[customer_id] = platform_id
        if email:
            self.by_email.setdefault(email.lower(), customer_id)  # the oldest with that address

    def match(self, row: BalanceRow) -> int | RowError | None:
        if row.platform_id:
            found = self.by_platform.get(row.platform_id)
            if found is not None:
                return found
            other = self.by_email.get(row.email.lower()) if row.email else None
            if other is not None and not self.platform_of[other].startswith("email:"):
                return RowError(
                    row.line, "conflict",
                    f"{row.email} belongs to the customer with platform id "
                    f"{self.platform_of[other]}, not {row.platform_id}",
                )
            return other
        assert row.email is not None
        return self.by_email.get(row.email.lower()) or self.by_platform.get(
            placeholder_platform_id(row.email)
        )


def _create_customer(session: Session, shop_id: int, row: BalanceRow) -> Customer:
    """INSERT the customer with the file's email and names (ON CONFLICT on the platform id
    falls back to the row that won); no signup bonus, no mail."""
    platform_id = row.platform_id or placeholder_platform_id(row.email or "")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    customer_id = session.execute(
        insert(Customer)
        .values(
            shop_id=shop_id, platform_id=platform_id, email=row.email, first_name=row.first_name,
            last_name=row.last_name, accepts_marketing=False, points_balance=0, pending_points=0,
            lifetime_points=0, ledger_seq=0, orders_count=0, total_spent_minor=0,
            created_at=now, updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "platform_id"])
        .returning(Customer.id)
    ).scalar()
    if customer_id is None:
        customer, _ = ensure_customer(session, shop_id, platform_id)
        return customer
    customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer


def apply_rows(
    session: Session,
    shop_id: int,
    rows: list[BalanceRow],
    *,
    dry_run: bool,
    source: str = "file",
    staff_user_id: int | None = None,
    index: CustomerIndex | None = None,
) -> ImportResult:
    """Set each row's customer balance (or, with `dry_run`, only count what would change).
    The caller commits; with `dry_run` nothing is written at all. The matched customers'
    rows are locked (FOR UPDATE) so a concurrent posting cannot slip between reading a
    balance and setting it."""
    result = ImportResult(total=len(rows))
    index = index or CustomerIndex.load(session, shop_id)
    matches = [index.match(row) for row in rows]
    ids = sorted({m for m in matches if isinstance(m, int)})
    loaded: dict[int, Customer] = {}
    if ids:
        stmt = select(Customer).where(Customer.shop_id == shop_id, Customer.id.in_(ids))
        if not dry_run:
            stmt = stmt.with_for_update()
        loaded = {c.id: c for c in session.scalars(stmt.execution_options(populate_existing=True))}
    for row, matched in zip(rows, matches, strict=True):
        result.processed += 1
        if isinstance(matched, RowError):
            result.errors.append(matched)
            continue
        if matched is not None:
            first = index.claimed.setdefault(matched, row.line)
            if first != row.line:  # e.g. one row by platform id, another by that customer's email
                result.errors.append(
                    RowError(row.line, "duplicate_row", f"the same customer is already on line {first}")
                )
                continue
        customer = loaded.get(matched) if matched is not None else None
        if customer is None:
            result.created += 1
            if dry_run:
                if row.points:
                    result.changed += 1
                    result.points_delta += row.points
                else:
                    result.unchanged += 1
                continue
            customer = _create_customer(session, shop_id, row)
            index.add(customer.id, customer.platform_id, customer.email)
        elif not dry_run and customer.redacted_at is None:
            if row.platform_id and customer.platform_id.startswith("email:"):
                customer.platform_id = row.platform_id  # created from an email alone earlier
                index.add(customer.id, row.platform_id, None)
            # Fill what we do not know; never overwrite the platform's profile.
            customer.email = customer.email or row.email
            customer.first_name = customer.first_name or row.first_name
            customer.last_name = customer.last_name or row.last_name
        delta = row.points - int(customer.points_balance or 0)
        if delta == 0:
            result.unchanged += 1
            continue
        result.changed += 1
        result.points_delta += delta
        if dry_run:
            continue
        ledger.post(
            session,
            shop_id=shop_id,
            customer_id=customer.id,
            points=delta,
            kind="import",
            idempotency_key=f"import:{customer.id}:{customer.ledger_seq}:{row.points}",
            reason=f"balance import ({source}, line {row.line}): set to {row.points}",
            staff_user_id=staff_user_id,
        )
    return result


def run_import(
    db: Database,
    shop_id: int,
    parsed: ParsedFile,
    *,
    dry_run: bool,
    source: str = "file",
    staff_user_id: int | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
    chunk: int | None = None,
) -> ImportResult:
    """Apply (or check) a parsed file chunk by chunk, one transaction per chunk.

    A file with any bad row is refused whole: the result lists the errors and nothing is
    changed, as in a dry run. Conflicts found against the database (an email that belongs
    to another platform id) are checked for the whole file before the first write."""
    chunk = chunk or CHUNK
    total = ImportResult(total=len(parsed.rows), errors=list(parsed.errors))
    if total.errors:
        return total
    rows = parsed.rows
    # First pass, read-only: every row is matchable. A real run then writes.
    with db.session() as session:
        index = CustomerIndex.load(session, shop_id)
        for start in range(0, len(rows), chunk):
            checked = apply_rows(
                session, shop_id, rows[start : start + chunk], dry_run=True, source=source, index=index
            )
            if dry_run:
                total.add(checked)
                if on_progress:
                    on_progress(total)
            else:
                total.errors.extend(checked.errors)
    if dry_run or total.errors:
        total.errors.sort(key=lambda e: e.line)
        return total
    with db.session() as session:
        index = CustomerIndex.load(session, shop_id)
    for start in range(0, len(rows), chunk):
        with db.transaction() as session:
            done = apply_rows(
                session, shop_id, rows[start : start + chunk], dry_run=False, source=source,
                staff_user_id=staff_user_id, index=index,
            )
        total.add(done)
        if on_progress:
            on_progress(total)
    return total
