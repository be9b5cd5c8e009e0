"""The ledger export: every entry of one shop as CSV, streamed in id order.

`ledger_csv(session, shop_id)` yields the file line by line, reading the entries in
keyset batches (`id > last`), so memory stays flat however long the ledger is and the
same generator serves the CLI (`loyalty export-ledger`) and the admin download. The file
imports back as is (`loyaltyloop` format): a customer's balance is the sum of their
posted entries.

Text cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a
leading apostrophe; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Customer, LedgerEntry

COLUMNS = (
    "entry_id",
    "created_at",
    "resolved_at",
    "customer_id",
    "customer_platform_id",
    "customer_email",
    "points",
    "kind",
    "status",
    "seq",
    "balance_after",
    "reason",
)
BATCH = 1000
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def ledger_csv(session: Session, shop_id: int, batch: int = BATCH) -> Iterator[str]:
    yield _line(list(COLUMNS))
    last = 0
    while True:
        rows = session.execute(
            select(LedgerEntry, Customer.platform_id, Customer.email)
            .join(Customer, Customer.id == LedgerEntry.customer_id)
            .where(LedgerEntry.shop_id == shop_id, LedgerEntry.id > last)
            .order_by(LedgerEntry.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for entry, platform_id, email in rows:
            yield _line([
                entry.id,
                entry.created_at.isoformat() if entry.created_at else "",
                entry.resolved_at.isoformat() if entry.resolved_at else "",
                entry.customer_id,
                _text(platform_id),
                _text(email),
                entry.points,
                entry.kind,
                entry.status,
                "" if entry.seq is None else entry.seq,
                "" if entry.balance_after is None else entry.balance_after,
                _text(entry.reason),
            ])
        last = rows[-1][0].id
        session.expunge_all()  # keep the identity map from growing with the ledger
